"""The local target: the whole lifecycle on this machine (see ``target.py``)."""

from mlops.targets.local.target import LocalTarget

__all__ = ["LocalTarget"]
