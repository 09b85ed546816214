"""One ComponentResource per concern: the workspace and what it depends on,
the compute clusters, and access for people and CI."""
