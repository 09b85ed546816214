"""What the ``ml`` CI identity (train, gate, deploy) may do in its environment.

The identity itself, its federated credentials and its registry role are
the platform stack's. Here, on the exact resources: AzureML Data Scientist
on the workspace (which covers its monitor schedules), and Storage Blob Data
Contributor on the one container it uploads data to and downloads outputs
from (the default datastore's), not the whole account: the container the
deployments' data collector writes to as well (``modelDataCollector/``), so
``mlops monitor`` reads what was collected with no role of its own. Azure's
monitor jobs run as the workspace's identity, whose blob role on the account
(``workspace.py``) already covers that container. Both are workload roles to
a workload principal: the grants the environment's ``infra`` identity is
allowed to make.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.grants import assign_all


@dataclass(frozen=True)
class AccessArgs:
    ml_principal_id: pulumi.Input[str]
    workspace_id: pulumi.Input[str]
    default_container_id: pulumi.Input[str]
    subscription_id: str


class Access(pulumi.ComponentResource):
    """No outputs: grants only."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:azure:Access", name, None, opts)
        assign_all(
            f"{name}-ci-ml",
            [
                ("workspace", "AzureML Data Scientist", args.workspace_id),
                ("storage", "Storage Blob Data Contributor", args.default_container_id),
            ],
            principal_id=args.ml_principal_id,
            principal_type="ServicePrincipal",
            subscription_id=args.subscription_id,
            parent=self,
        )
        self.register_outputs({})
