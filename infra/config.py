"""The stack's configuration, read once and checked before any resource exists.

Every key is declared with its description and default in ``Pulumi.yaml``;
``load`` reads them through ``pulumi.Config`` and ``parse`` checks them,
raising ``ConfigError`` that names the key and says what to set.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import github_oidc

PROJECT = "mlops-infra"

STACK_PATTERN = r"^[a-z][a-z0-9]{1,7}$"
PREFIX_PATTERN = r"^[a-z][a-z0-9]{1,7}$"
REPOSITORY_PATTERN = r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$"
ENVIRONMENT_PATTERN = r"^[^\s'\"`,;:]{1,255}$"
VM_SIZE_PATTERN = r"^Standard_[A-Za-z0-9_]+$"
CI_JOBS = ("infra", "ml", "preview")
# Azure allows at most 20 federated credentials on one identity.
MAX_FEDERATED_CREDENTIALS = 20

KEYS = (
    "location",
    "namePrefix",
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
    "githubRepository",
    "githubInfraEnvironments",
    "githubMlEnvironments",
    "githubPreviewEnvironments",
    "dataScientistsGroupObjectIds",
    "tags",
)


class ConfigError(ValueError):
    """A stack config value is missing or invalid; the message names the key."""


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
    public_workspace: bool
    approved_outbound_only: bool
    cpu: Cluster
    gpu: Cluster | None
    idle_seconds_before_scale_down: int
    low_priority_nodes: bool
    key_vault_retention_days: int
    log_retention_days: int
    github_repository: str
    # CI job ("infra", "ml", "preview") -> the GitHub environments it runs in
    github_environments: Mapping[str, tuple[str, ...]]
    data_scientists_group_object_ids: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)

    def federated_subjects(self, job: str) -> list[str]:
        """The exact OIDC subjects GitHub sends for ``job``'s environments."""
        return [
            github_oidc.subject(self.github_repository, environment)
            for environment in self.github_environments[job]
        ]


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
    read = _Reader(raw)
    prefix = read.text("namePrefix", PREFIX_PATTERN, "2-8 lowercase letters and digits")
    environments = {
        job: read.environments(f"github{job.capitalize()}Environments", default)
        for job, default in zip(CI_JOBS, (f"{stack}-infra", stack, f"{stack}-preview"), strict=True)
    }
    gpu_size = read.text("gpuVmSize", r"^(|Standard_[A-Za-z0-9_]+)$", "a VM size, or empty")
    return InfraConfig(
        stack=stack,
        location=read.text("location", r"^[a-z0-9]+$", "an Azure region such as westeurope"),
        name_prefix=prefix,
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
        github_repository=read.text(
            "githubRepository", REPOSITORY_PATTERN, "the repository as OWNER/NAME"
        ),
        github_environments=environments,
        data_scientists_group_object_ids=read.object_ids("dataScientistsGroupObjectIds"),
        tags=read.tags("tags"),
    )


_COMPUTE_RULE = "2-16 letters, digits and hyphens, starting with a letter"


class _Reader:
    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw

    def _fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(
            f"{PROJECT}:{key}: {problem} (set it with `pulumi config set {key} ...`, "
            "or in infra/Pulumi.<stack>.yaml)"
        )

    def _get(self, key: str) -> str:
        value = self.raw.get(key)
        if value is None:
            raise self._fail(key, "is not set and has no default in infra/Pulumi.yaml")
        return value

    def text(self, key: str, pattern: str, rule: str) -> str:
        value = self._get(key)
        if not re.match(pattern, value):
            raise self._fail(key, f"{value!r} is not valid: expected {rule}")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key).strip().lower()
        if value not in ("true", "false"):
            raise self._fail(key, f"{value!r} is not a boolean: expected true or false")
        return value == "true"

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        try:
            number = int(value)
        except ValueError:
            raise self._fail(key, f"{value!r} is not an integer") from None
        if not low <= number <= high:
            raise self._fail(key, f"{number} is out of range: expected {low} to {high}")
        return number

    def strings(self, key: str) -> list[str]:
        value = self._get(key)
        try:
            items = json.loads(value)
        except ValueError:
            raise self._fail(key, "is not a list: expected a YAML list of strings") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise self._fail(key, "is not a list of strings")
        return items

    def environments(self, key: str, default: str) -> tuple[str, ...]:
        items = self.strings(key) or [default]
        for item in items:
            if not re.match(ENVIRONMENT_PATTERN, item):
                raise self._fail(key, f"{item!r} is not a GitHub environment name")
        if len(set(items)) != len(items):
            raise self._fail(key, "lists an environment twice")
        if len(items) > MAX_FEDERATED_CREDENTIALS:
            raise self._fail(
                key, f"{len(items)} environments: an identity takes at most 20 credentials"
            )
        return tuple(items)

    def object_ids(self, key: str) -> tuple[str, ...]:
        items = self.strings(key)
        for item in items:
            try:
                uuid.UUID(item)
            except ValueError:
                raise self._fail(
                    key, f"{item!r} is not an object id (a GUID, from `az ad group show`)"
                ) from None
        return tuple(item.lower() for item in items)

    def tags(self, key: str) -> dict[str, str]:
        tags = {}
        for item in self.strings(key):
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise self._fail(key, f"{item!r} is not a tag: expected name=value")
            tags[name.strip()] = value.strip()
        return tags


def raw_from_yaml(values: Mapping[str, Any]) -> dict[str, str]:
    """Config values as ``pulumi config`` hands them to a program: strings, with
    lists and objects as JSON and booleans in lowercase."""
    out = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out
