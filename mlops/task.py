"""What a model predicts, and whether a candidate predicts what the champion does.

A model's task is its kind (``mlops.kinds``), its target column and, for a
binary classifier, the class it scores as positive; its features are the
columns every caller of the endpoint sends (the scoring script refuses a
request that lacks one of them or adds another). Metrics compare two models
only when they share all of it: an AUC of 1.0 on another label says nothing
against the champion's 0.77, and a model that takes other columns breaks
every caller. So the gate compares a candidate with the
champion only when ``change`` finds nothing; otherwise it refuses, naming
the change and the two ways out: a new model (a folder of its own under
``models/``, with its own endpoint and registry name), or replacing the task
on purpose with a recorded reason.

Every registered version carries its task in tags (``task_tags``), written
from the model's own ``data_contract.json``: the champion's task is known
wherever its version is, including a version promoted from another
environment. A feature list too long for a tag is kept as its digest alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.kinds import DEFAULT_KIND

TASK_TAG = "mlops.task"  # {"kind": ..., "target_column": ..., "positive_class": ...} as JSON
FEATURES_TAG = "mlops.features"  # the feature columns as a JSON list, when it fits
FEATURES_DIGEST_TAG = "mlops.features_sha256"
# Set on a version deployed in place of a champion of another task: when, who, why.
REPLACED_TAG = "mlops.task_replaced"
CONTRACT_FILE = "data_contract.json"  # written by the train step beside the model
# Tag values stay well under what registries take (MLflow: 8,000 characters).
MAX_TAG_TEXT = 4000
REPLACE_FLAG = "--replace-task REASON"


@dataclass(frozen=True)
class Task:
    target_column: str
    positive_class: str | None  # None for a kind without one (all but binary)
    features: tuple[str, ...] | None  # None: recorded as a digest only (too many)
    features_digest: str
    kind: str = DEFAULT_KIND

    def label(self) -> str:
        if self.positive_class is None:
            return f"{self.target_column} ({self.kind})"
        return f"{self.target_column} = {self.positive_class}"


def task_of(
    target_column: str,
    positive_class: str | None,
    features: list[str] | tuple[str, ...],
    kind: str = DEFAULT_KIND,
):
    """The task of a model of ``kind`` predicting ``target_column`` (scoring
    ``positive_class``, for a binary classifier) over ``features``."""
    return Task(target_column, positive_class, tuple(features), _digest(features), kind)


def task_of_model_folder(folder: Path) -> Task | None:
    """The task of the MLflow model saved in ``folder``, from its
    ``data_contract.json``; None for a model saved before that file existed."""
    try:
        raw = json.loads((folder / CONTRACT_FILE).read_text(encoding="utf-8"))
        kind = raw.get("kind", DEFAULT_KIND)
        return task_of(raw["target_column"], raw["positive_class"], raw["features"], kind)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def task_tags(task: Task) -> dict[str, str]:
    """The tags that record ``task`` on a model version."""
    tags = {
        TASK_TAG: json.dumps(
            {
                "kind": task.kind,
                "target_column": task.target_column,
                "positive_class": task.positive_class,
            },
            ensure_ascii=False,
        ),
        FEATURES_DIGEST_TAG: task.features_digest,
    }
    listed = json.dumps(list(task.features or ()), ensure_ascii=False)
    if task.features is not None and len(listed) <= MAX_TAG_TEXT:
        tags[FEATURES_TAG] = listed
    return tags


def task_from_tags(tags: Mapping[str, str]) -> Task | None:
    """The task recorded in a version's tags; None when it records none (a
    version registered before tasks were recorded) or an unreadable one."""
    try:
        raw = json.loads(tags[TASK_TAG])
        digest = tags[FEATURES_DIGEST_TAG]
        features = tuple(json.loads(tags[FEATURES_TAG])) if FEATURES_TAG in tags else None
        kind = raw.get("kind", DEFAULT_KIND)
        return Task(raw["target_column"], raw["positive_class"], features, digest, kind)
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def model_kind(model, default: str) -> str:
    """The kind of registered version ``model`` as its tags record it, else ``default``."""
    task = task_from_tags(model.tags)
    return task.kind if task is not None else default


def change(candidate: Task, champion: Task, champion_version: str) -> str | None:
    """What differs between the two tasks, in words, or None when they are one task."""
    theirs = f"champion {champion_version}"
    if candidate.kind != champion.kind:
        return (
            f"the candidate is a {candidate.kind} model of {candidate.target_column}, "
            f"{theirs} a {champion.kind} one of {champion.target_column}"
        )
    if (candidate.target_column, candidate.positive_class) != (
        champion.target_column,
        champion.positive_class,
    ):
        return f"the candidate predicts {candidate.label()}, {theirs} predicts {champion.label()}"
    if candidate.features_digest == champion.features_digest:
        return None
    if candidate.features is None or champion.features is None:
        return f"the candidate takes other feature columns than {theirs}"
    added = [c for c in candidate.features if c not in champion.features]
    dropped = [c for c in champion.features if c not in candidate.features]
    if not added and not dropped:
        return None  # the same columns in another order: callers send names
    parts = []
    if added:
        parts.append(f"needs {_names(added)}, which {theirs}'s callers do not send")
    if dropped:
        parts.append(f"refuses {_names(dropped)}, which {theirs}'s callers send")
    return "the candidate " + " and ".join(parts)


def refusal(what: str) -> str:
    """The gate's one line for a change of task: what changed and the two ways out."""
    return (
        f"task changed: {what}; to serve it beside the champion, make it a new model "
        f"(`mlops new-model NAME --kind KIND --from` this one: its own folder, endpoint "
        f"and registry name); to replace the champion's task, pass {REPLACE_FLAG} "
        "(recorded on the version)"
    )


def _names(columns: list[str]) -> str:
    shown = ", ".join(columns[:5]) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return f"column{'s' if len(columns) > 1 else ''} {shown}"


def _digest(features: list[str] | tuple[str, ...]) -> str:
    text = json.dumps(sorted(features), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
