"""An environment stack's configuration, read once and checked before any
resource exists.

Every key is declared with its description and default in ``Pulumi.yaml``;
``load`` reads them through ``pulumi.Config`` and ``parse`` checks them,
raising ``ConfigError`` that names the key and says what to set. Who may
sign in and what the identities are is not configured here: it is the
platform stack's (``platformStack``), which an administrator owns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from config_reader import ConfigError, Reader, raw_from_yaml

__all__ = ["ConfigError", "InfraConfig", "load", "parse", "raw_from_yaml"]

PROJECT = "mlops-infra"

STACK_PATTERN = r"^[a-z][a-z0-9]{1,7}$"
PREFIX_PATTERN = r"^[a-z][a-z0-9]{1,7}$"
VM_SIZE_PATTERN = r"^Standard_[A-Za-z0-9_]+$"
# organization/project/stack (a self-managed backend's organization is "organization").
STACK_REFERENCE_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"

KEYS = (
    "location",
    "namePrefix",
    "platformStack",
    "publicWorkspace",
    "approvedOutboundOnly",
    "cpuClusterName",
    "cpuVmSize",
    "cpuMaxNodes",
    "gpuClusterName",
    "gpuVmSize",
    "gpuMaxNodes",
    "idleSecondsBeforeScaleDown",
    "lowPriorityNodes",
    "keyVaultRetentionDays",
    "logRetentionDays",
    "tags",
)


@dataclass(frozen=True)
class Cluster:
    name: str
    vm_size: str
    max_nodes: int


@dataclass(frozen=True)
class InfraConfig:
    stack: str
    location: str
    name_prefix: str
    platform_stack: str
    public_workspace: bool
    approved_outbound_only: bool
    cpu: Cluster
    gpu: Cluster | None
    idle_seconds_before_scale_down: int
    low_priority_nodes: bool
    key_vault_retention_days: int
    log_retention_days: int
    tags: Mapping[str, str] = field(default_factory=dict)


def load(stack: str) -> InfraConfig:
    """Read and check the config of ``stack`` (``pulumi.get_stack()``)."""
    import pulumi

    config = pulumi.Config(PROJECT)
    return parse({key: config.get(key) for key in KEYS}, stack)


def parse(raw: Mapping[str, str | None], stack: str) -> InfraConfig:
    """Check raw config strings (as ``pulumi config`` stores them) for ``stack``."""
    if not re.match(STACK_PATTERN, stack):
        raise ConfigError(
            f"stack name {stack!r}: use 2-8 lowercase letters and digits, starting with a "
            "letter (it is part of globally unique resource names)"
        )
    read = Reader(raw, PROJECT, "infra")
    gpu_size = read.text("gpuVmSize", r"^(|Standard_[A-Za-z0-9_]+)$", "a VM size, or empty")
    return InfraConfig(
        stack=stack,
        location=read.text("location", r"^[a-z0-9]+$", "an Azure region such as westeurope"),
        name_prefix=read.text("namePrefix", PREFIX_PATTERN, "2-8 lowercase letters and digits"),
        platform_stack=read.text(
            "platformStack", STACK_REFERENCE_PATTERN, "the platform stack as ORG/PROJECT/STACK"
        ),
        public_workspace=read.boolean("publicWorkspace"),
        approved_outbound_only=read.boolean("approvedOutboundOnly"),
        cpu=Cluster(
            name=read.text("cpuClusterName", r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$", _COMPUTE_RULE),
            vm_size=read.text("cpuVmSize", VM_SIZE_PATTERN, "a VM size such as Standard_DS3_v2"),
            max_nodes=read.integer("cpuMaxNodes", 1, 100),
        ),
        gpu=Cluster(
            name=read.text("gpuClusterName", r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$", _COMPUTE_RULE),
            vm_size=gpu_size,
            max_nodes=read.integer("gpuMaxNodes", 1, 100),
        )
        if gpu_size
        else None,
        idle_seconds_before_scale_down=read.integer("idleSecondsBeforeScaleDown", 60, 86400),
        low_priority_nodes=read.boolean("lowPriorityNodes"),
        key_vault_retention_days=read.integer("keyVaultRetentionDays", 7, 90),
        log_retention_days=read.integer("logRetentionDays", 30, 730),
        tags=read.tags("tags"),
    )


_COMPUTE_RULE = "2-16 letters, digits and hyphens, starting with a letter"
