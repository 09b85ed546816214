"""Where a model came from: the tags written on every registered model version."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops.gate import Decision
from mlops.targets.base import DIGEST_TAG, GATE_TAG, RUN_TAG

METRIC_PREFIX = "metric."
# The tag naming the data version a model was trained on.
DATA_TAG = "mlops.data_asset"
# The tags naming the git commit a model was trained at, and whether the tree had changes.
COMMIT_TAG, DIRTY_TAG = "mlops.git_commit", "mlops.git_dirty"
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


def model_digest(folder: Path) -> str:
    """SHA-256 over every file under ``folder`` (its path relative to ``folder``, its
    size and its bytes, in path order). Two copies of the same model have the same
    digest; a changed, added or renamed file changes it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        digest.update(f"{name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def model_tags(
    *,
    commit: str,
    dirty: bool | None,
    data_asset: str,
    run_id: str,
    digest: str,
    metrics: Mapping[str, float],
    decision: Decision,
) -> dict[str, str]:
    """The lineage tags of a model version (all values are text, as registries store them)."""
    tags = {
        COMMIT_TAG: commit,
        DIRTY_TAG: UNKNOWN if dirty is None else str(dirty).lower(),
        DATA_TAG: data_asset,
        RUN_TAG: run_id,
        DIGEST_TAG: digest,
        GATE_TAG: decision.verdict,
        "mlops.gate_champion": decision.champion_version or "none",
        # A task check judges no metric: it is named by its kind.
        "mlops.gate_failed": ", ".join(
            c.kind if c.kind == "task" else c.metric for c in decision.failed()
        )
        or "none",
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
