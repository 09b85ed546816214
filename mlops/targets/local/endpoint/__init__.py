"""The local online endpoint: a router and one scoring server per deployment."""

from mlops.targets.local.endpoint.endpoint import LocalEndpoint

__all__ = ["LocalEndpoint"]
