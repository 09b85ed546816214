"""The platform stack's configuration, read once and checked before any
resource exists.

Every key is declared with its description and default in
``platform/Pulumi.yaml``; ``parse`` raises ``ConfigError`` naming the key.
The GitHub repository the federated credentials trust is not one of them:
it is read from the policy pack's config (``policyConfig``), which checks
those credentials against it, so that it lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import github_oidc
from config_reader import ConfigError, Reader
from policy import rules

PROJECT = "mlops-platform"
# Relative paths in policyConfig are from here, where Pulumi runs the program.
FOLDER = Path(__file__).resolve().parent
REPOSITORY = FOLDER.parent.parent

ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9]{1,7}$"  # an environment stack's name
GITHUB_ENVIRONMENT_PATTERN = r"^[^\s'\"`,;:/=]{1,255}$"
STORAGE_ACCOUNT_PATTERN = r"^[a-z0-9]{3,24}$"
CI_JOBS = ("infra", "ml", "preview")
# Azure allows at most 20 federated credentials on one identity.
MAX_FEDERATED_CREDENTIALS = 20

KEYS = (
    "location",
    "namePrefix",
    "environments",
    "registryRegions",
    "registryWriters",
    "policyConfig",
    "githubEnvironments",
    "dataScientistsGroupObjectIds",
    "stateStorageAccount",
    "stateResourceGroup",
    "tags",
)


@dataclass(frozen=True)
class PlatformConfig:
    location: str
    name_prefix: str
    environments: tuple[str, ...]
    registry_regions: tuple[str, ...]  # the first is the registry's own location
    # the environments that promote models into the registry; the others only read it
    registry_writers: tuple[str, ...]
    # the policy pack's config file, and the repository it names for federated credentials
    policy_config: Path
    github_repository: str
    # (environment, CI job) -> the GitHub environments its jobs run in
    github_environments: Mapping[tuple[str, str], tuple[str, ...]]
    # environment -> object ids of the groups that get AzureML Data Scientist there
    data_scientists: Mapping[str, tuple[str, ...]]
    state_storage_account: str
    state_resource_group: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def federated_subjects(self, environment: str, job: str) -> list[str]:
        """The exact OIDC subjects GitHub sends for ``job`` of ``environment``."""
        return [
            github_oidc.subject(self.github_repository, github_environment)
            for github_environment in self.github_environments[environment, job]
        ]


def load() -> PlatformConfig:
    """Read and check the running stack's config."""
    import pulumi

    config = pulumi.Config(PROJECT)
    return parse({key: config.get(key) for key in KEYS})


def parse(raw: Mapping[str, str | None]) -> PlatformConfig:
    """Check raw config strings (as ``pulumi config`` stores them)."""
    read = Reader(raw, PROJECT, "infra/platform")
    location = read.text("location", r"^[a-z0-9]+$", "an Azure region such as westeurope")
    environments = tuple(read.strings("environments"))
    if not environments:
        raise read.fail("environments", "is empty: list the environment stacks (dev, prod ...)")
    for environment in environments:
        if not re.match(ENVIRONMENT_PATTERN, environment):
            raise read.fail(
                "environments", f"{environment!r} is not an environment stack's name (2-8 "
                "lowercase letters and digits)"
            )  # fmt: skip
    if len(set(environments)) != len(environments):
        raise read.fail("environments", "lists an environment twice")
    regions = tuple(read.strings("registryRegions")) or (location,)
    for region in regions:
        if not re.match(r"^[a-z0-9]+$", region):
            raise read.fail("registryRegions", f"{region!r} is not an Azure region")
    writers = tuple(read.strings("registryWriters")) or environments[:1]
    for writer in writers:
        if writer not in environments:
            raise read.fail("registryWriters", f"{writer!r} is not one of environments")
    policy_config, repository = _github_repository(read)
    return PlatformConfig(
        location=location,
        name_prefix=read.text("namePrefix", r"^[a-z][a-z0-9]{1,7}$", "2-8 lowercase letters"),
        environments=environments,
        registry_regions=regions,
        registry_writers=writers,
        policy_config=policy_config,
        github_repository=repository,
        github_environments=_github_environments(read, environments),
        data_scientists=_data_scientists(read, environments),
        state_storage_account=read.text(
            "stateStorageAccount",
            STORAGE_ACCOUNT_PATTERN,
            "the storage account bootstrap.py created for Pulumi's state",
        ),
        state_resource_group=read.text(
            "stateResourceGroup", r"^[-\w.()]{1,89}[-\w()]$", "a resource group name"
        ),
        tags=read.tags("tags"),
    )


def _github_repository(read: Reader) -> tuple[Path, str]:
    key = "policyConfig"
    path = (FOLDER / read.text(key, r"\S", "the path of the policy pack's config file")).resolve()
    shown = path.relative_to(REPOSITORY) if path.is_relative_to(REPOSITORY) else path
    if not path.is_file():
        raise read.fail(key, f"{shown}: no such file")
    try:
        return path, rules.github_repository(rules.load_config(path), shown)
    except ValueError as error:
        raise ConfigError(str(error).replace(str(path), str(shown))) from None


def _github_environments(
    read: Reader, environments: tuple[str, ...]
) -> dict[tuple[str, str], tuple[str, ...]]:
    key = "githubEnvironments"
    chosen: dict[tuple[str, str], list[str]] = {}
    for target, github_environment in read.pairs(key):
        environment, _, job = target.partition("/")
        if environment not in environments or job not in CI_JOBS:
            raise read.fail(
                key, f"{target!r}: expected ENVIRONMENT/JOB with an environment of "
                f"`environments` and a job of {', '.join(CI_JOBS)}"
            )  # fmt: skip
        if not re.match(GITHUB_ENVIRONMENT_PATTERN, github_environment):
            raise read.fail(key, f"{github_environment!r} is not a GitHub environment name")
        names = chosen.setdefault((environment, job), [])
        if github_environment in names:
            raise read.fail(key, f"lists {github_environment!r} twice for {target}")
        names.append(github_environment)
        if len(names) > MAX_FEDERATED_CREDENTIALS:
            raise read.fail(key, f"{target}: an identity takes at most 20 credentials")
    defaults = {"infra": ("{}-infra",), "ml": ("{}",), "preview": ("{}-preview",)}
    # Pull requests train on the first environment (ci.yml) in <env>-pr: an environment
    # open to pull-request branches, while <env> itself can stay limited to main.
    first_ml = ("{}", "{}-pr")
    return {
        (environment, job): tuple(
            chosen.get((environment, job))
            or [
                pattern.format(environment)
                for pattern in (
                    first_ml if (environment, job) == (environments[0], "ml") else patterns
                )
            ]
        )
        for environment in environments
        for job, patterns in defaults.items()
    }


def _data_scientists(read: Reader, environments: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    key = "dataScientistsGroupObjectIds"
    groups: dict[str, list[str]] = {environment: [] for environment in environments}
    for environment, object_id in read.pairs(key):
        if environment not in groups:
            raise read.fail(key, f"{environment!r} is not one of `environments`")
        groups[environment].append(read.object_id(key, object_id))
    return {environment: tuple(ids) for environment, ids in groups.items()}


__all__ = ["ConfigError", "PlatformConfig", "load", "parse"]
