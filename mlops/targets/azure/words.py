"""Azure's own words for what azure-ai-ml hands back.

azure-ai-ml returns some values as its generated enums (``JobStatus`` of a
job, ``DeploymentProvisioningState`` of a deployment, ...): ``str`` subclasses
that compare equal to Azure's word but that Python 3.11 formats by name
(``JobStatus.COMPLETED``). What the Azure target prints or records goes
through ``word`` first, so that it says ``Completed`` as the service does.
"""

from __future__ import annotations


def word(value: object, missing: str) -> str:
    """The service's word for ``value`` (an SDK enum or text): ``Completed`` for
    ``JobStatus.COMPLETED``; ``missing`` when there is none."""
    value = getattr(value, "value", value)
    return str(value) if value else missing
