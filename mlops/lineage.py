"""Where a model came from: the tags written on every registered model version."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops.gate import Decision

METRIC_PREFIX = "metric."
UNKNOWN = "unknown"


def git_state(folder: Path) -> tuple[str, bool | None]:
    """(commit, dirty) of the git work tree holding ``folder``.

    ``GITHUB_SHA`` is used when git cannot tell (a CI checkout without the
    ``.git`` folder); (``"unknown"``, None) when neither can."""
    try:
        commit = _git(folder, "rev-parse", "HEAD")
        # Untracked files count: a new, uncommitted module changes what trains.
        dirty = bool(_git(folder, "status", "--porcelain"))
        return commit, dirty
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("GITHUB_SHA", UNKNOWN), None


def model_tags(
    *,
    commit: str,
    dirty: bool | None,
    data_asset: str,
    run_id: str,
    metrics: Mapping[str, float],
    decision: Decision,
) -> dict[str, str]:
    """The lineage tags of a model version (all values are text, as registries store them)."""
    tags = {
        "mlops.git_commit": commit,
        "mlops.git_dirty": UNKNOWN if dirty is None else str(dirty).lower(),
        "mlops.data_asset": data_asset,
        "mlops.run_id": run_id,
        "mlops.gate": decision.verdict,
        "mlops.gate_champion": decision.champion_version or "none",
        "mlops.gate_failed": ", ".join(c.metric for c in decision.failed()) or "none",
    }
    tags.update({f"{METRIC_PREFIX}{name}": repr(float(value)) for name, value in metrics.items()})
    return tags


def metrics_from_tags(tags: Mapping[str, str]) -> dict[str, float]:
    """The evaluation metrics recorded in a model version's tags.
    Raises ValueError naming the tag when one is not a number."""
    metrics = {}
    for key, text in tags.items():
        if key.startswith(METRIC_PREFIX):
            try:
                metrics[key.removeprefix(METRIC_PREFIX)] = float(text)
            except ValueError:
                raise ValueError(f"tag {key} is not a number") from None
    return metrics


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()
