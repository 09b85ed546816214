"""Resource names: readable, within Azure's rules, and globally unique where Azure
needs them to be.

Storage accounts, key vaults and container registries share one namespace
across all of Azure. Their names end in ``stable_suffix``: six hex digits of
a hash of the subscription, stack and prefix, so the same stack gets the
same names on every run (as Bicep's ``uniqueString``) and two forks in
different subscriptions do not collide.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Azure's rules for the names this project creates: (pattern, what to say).
RULES: dict[str, tuple[str, str]] = {
    "resource_group": (r"^[-\w.()]{1,89}[-\w()]$", "1-90 letters, digits, -_.() not ending in ."),
    "storage_account": (r"^[a-z0-9]{3,24}$", "3-24 lowercase letters and digits"),
    "key_vault": (
        r"^(?=.{3,24}$)[a-zA-Z](?!.*--)[a-zA-Z0-9-]*[a-zA-Z0-9]$",
        "3-24 letters, digits and single hyphens, starting with a letter",
    ),
    "container_registry": (r"^[a-zA-Z0-9]{5,50}$", "5-50 letters and digits"),
    "workspace": (
        r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$",
        "3-33 letters, digits, - and _, starting with a letter or digit",
    ),
    "log_analytics": (
        r"^[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]$",
        "4-63 letters, digits and hyphens",
    ),
    "compute": (
        r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$",
        "2-16 letters, digits and hyphens, starting with a letter",
    ),
    "identity": (r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$", "3-128 letters, digits, - and _"),
    "ml_registry": (
        r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$",
        "3-33 letters, digits, - and _, starting with a letter or digit",
    ),
}


def stable_suffix(subscription_id: str, stack: str, prefix: str) -> str:
    """Six lowercase hex digits, the same for the same subscription, stack and prefix."""
    seed = f"{subscription_id.lower()}/{stack}/{prefix}".encode()
    return hashlib.sha256(seed).hexdigest()[:6]


@dataclass(frozen=True)
class Names:
    """Every resource name of one stack."""

    base: str  # <prefix>-<stack>
    resource_group: str
    storage_account: str
    key_vault: str
    container_registry: str
    log_analytics: str
    app_insights: str
    workspace: str
    workspace_identity: str

    def workload_identity(self, workload: str) -> str:
        """``workspace``, or ``compute-<cluster>``."""
        return f"id-{self.base}-{workload}"

    def compute_identity(self, cluster: str) -> str:
        return f"id-{self.base}-compute-{cluster}"

    def ci_identity(self, job: str) -> str:
        return f"id-{self.base}-ci-{job}"


def names(prefix: str, stack: str, suffix: str) -> Names:
    """The names of a stack's resources; ``check`` them before use."""
    base = f"{prefix}-{stack}"
    compact = f"{prefix}{stack}{suffix}"
    return Names(
        base=base,
        resource_group=f"rg-{base}",
        storage_account=f"st{compact}",
        key_vault=f"kv{compact}",
        container_registry=f"cr{compact}",
        log_analytics=f"log-{base}",
        app_insights=f"appi-{base}",
        workspace=f"mlw-{base}",
        workspace_identity=f"id-{base}-workspace",
    )


@dataclass(frozen=True)
class PlatformNames:
    """The names of the platform stack's own resources."""

    identities_resource_group: str
    registry_resource_group: str
    ml_registry: str


def platform_names(prefix: str, suffix: str) -> PlatformNames:
    return PlatformNames(
        identities_resource_group=f"rg-{prefix}-identities",
        registry_resource_group=f"rg-{prefix}-registry",
        ml_registry=f"mlr-{prefix}-{suffix}",
    )


def violations(kind: str, name: str) -> str | None:
    """Why ``name`` is not a valid name for a resource of ``kind`` (a key of
    ``RULES``), or None when it is."""
    pattern, rule = RULES[kind]
    if re.match(pattern, name):
        return None
    return f"{kind} name {name!r} breaks Azure's rule: {rule}"
