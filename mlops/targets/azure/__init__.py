"""The Azure target: the lifecycle on an Azure ML workspace (see ``target.py``)."""

from mlops.targets.azure.target import AzureTarget

__all__ = ["AzureTarget"]
