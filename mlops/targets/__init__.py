"""Targets by name; ``get_target(settings)`` returns the one the settings name."""

from __future__ import annotations

from mlops.errors import UserError
from mlops.settings import Settings
from mlops.targets.base import Target


def _local() -> type[Target]:
    from mlops.targets.local import LocalTarget

    return LocalTarget


def _azure() -> type[Target]:
    from mlops.targets.azure import AzureTarget

    return AzureTarget


# Imported on demand: a target's SDKs cost seconds to import.
TARGETS = {"local": _local, "azure": _azure}


def get_target(settings: Settings) -> Target:
    """Build the target named by ``settings.target``."""
    if settings.target not in TARGETS:
        raise UserError(
            f"target {settings.target!r} is unknown; set target to one of {', '.join(TARGETS)}"
        )
    return TARGETS[settings.target]()(settings)
