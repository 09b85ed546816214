"""``mlops reproduce VERSION``: rebuild a registered model from its lineage and
compare.

It checks out nothing. It refuses unless the working tree is at the commit
the version records (and says which one to check out); a tree with
uncommitted changes is allowed, and said, since the changes are then part of
what is compared. It takes the exact data version the version names,
checking first that the kept copy still has its SHA-256, and reruns the
pipeline on it with every step run again (no reuse), with the inputs the
settings give at that commit (``pipeline.test_size``, ``pipeline.seed`` ...).
It registers nothing. Then it compares the new run's metrics and model with
the recorded ones:

- **reproduced**: the same metrics, to the last bit, and the same files
  (``mlops.model_sha256``);
- **reproduced, bytes differ**: the same metrics and the same model, but
  files whose bytes carry when and as what they were saved:
  ``model.skops`` is a zip archive whose entries hold the time they were
  written and are named after the ``id()`` of the arrays they hold (an
  address that changes from process to process), and MLflow writes a new
  ``model_uuid`` and ``utc_time_created`` into ``MLmodel`` at every save.
  The comparison reads through those (the archive's entries by their bytes,
  the names inside them by those bytes' digests; ``MLmodel`` without the two
  keys) and names each file that differs only so;
- **different**: anything else, each metric and file that differs named.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mlops import lifecycle
from mlops.errors import UserError
from mlops.lineage import COMMIT_TAG, DATA_TAG, git_state, metrics_from_tags, model_digest
from mlops.runs import MODEL_OUTPUT
from mlops.settings import Settings
from mlops.targets.base import Printer

REPRODUCED, BYTES_DIFFER, DIFFERENT = "reproduced", "reproduced, bytes differ", "different"
# What MLflow writes anew into MLmodel at every save.
VOLATILE_MLMODEL_KEYS = ("model_uuid", "utc_time_created")


@dataclass
class Reproduction:
    version: str  # name:version
    run_id: str  # the new run
    verdict: str = REPRODUCED
    metrics: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # why it is different
    volatile: list[str] = field(default_factory=list)  # files differing in save metadata only
    notes: list[str] = field(default_factory=list)


def reproduce(target, settings: Settings, version: str, show: Printer) -> Reproduction:
    """Rebuild model version ``version`` and compare (see the module docstring).
    Raises ``ReproducedDifferent`` when the data it was built from changed."""
    model = target.get_model(version)
    commit = model.tags.get(COMMIT_TAG, "unknown")
    if commit == "unknown":
        raise UserError(f"model {model.ref} records no git commit: it cannot be reproduced")
    head, dirty = git_state(settings.root)
    if head != commit:
        raise UserError(
            f"model {model.ref} was trained at commit {commit}; the working tree is at "
            f"{head}: run `git checkout {commit}` (or a worktree of it), then reproduce again"
        )
    notes = []
    if dirty:
        notes.append("the working tree has uncommitted changes: they are part of what is compared")
    data_version = model.tags.get(DATA_TAG, "").rpartition(":")[2]
    asset = target.find_data(data_version) if data_version else None
    if asset is None:
        raise UserError(
            f"model {model.ref} was trained on data {model.tags.get(DATA_TAG) or 'unknown'}, "
            "which this environment does not hold: reproduce it where it was trained"
        )
    kept = Path(asset.path)
    if kept.is_file() and _sha256(kept) != asset.sha256:
        raise ReproducedDifferent(
            f"data {asset.ref}: the kept copy {kept} no longer has the SHA-256 it was "
            f"registered with ({asset.sha256[:12]}...): its bytes changed since"
        )
    show(f"reproducing {model.ref}: commit {commit[:10]}, data {asset.ref}, every step again")
    run = target.run_pipeline(asset, lifecycle.pipeline_inputs(settings, asset), show, True)
    outcome = Reproduction(model.ref, run.run_id, notes=notes)
    if run.status != "Completed":
        outcome.verdict = DIFFERENT
        outcome.differences.append(f"run {run.run_id} did not complete ({run.status})")
        return outcome
    recorded = _recorded_metrics(target, model)
    for name in sorted(set(recorded) | set(run.metrics)):
        before, now = recorded.get(name), run.metrics.get(name)
        outcome.metrics.append((name, before, now))
        if not _same(before, now):
            outcome.differences.append(f"metric {name}: {before} recorded, {now} now")
    files = Path(target.output_path(run, MODEL_OUTPUT))
    if model_digest(files) != model.digest:
        original = Path(target.output_path(target.get_run(model.run_id), MODEL_OUTPUT))
        changed, volatile = compare_models(original, files)
        outcome.differences += changed
        outcome.volatile = volatile
    if outcome.differences:
        outcome.verdict = DIFFERENT
    elif outcome.volatile:
        outcome.verdict = BYTES_DIFFER
    return outcome


class ReproducedDifferent(UserError):
    """What the version was built from is no longer there as it was."""


def _recorded_metrics(target, model) -> dict[str, float]:
    """The metrics of the version's training run (exact, from its metrics.json), or
    as its tags record them when the run is not held here."""
    try:
        return dict(target.get_run(model.run_id).metrics)
    except (LookupError, UserError):
        return metrics_from_tags(model.tags)


def _same(before: float | None, now: float | None) -> bool:
    if before is None or now is None:
        return before is now
    return before == now or (math.isnan(before) and math.isnan(now))


def compare_models(original: Path, rebuilt: Path) -> tuple[list[str], list[str]]:
    """(the files whose content differs, the files that differ only in what their
    format records of the save), between two MLflow model folders."""
    changed, volatile = [], []
    names = {p.relative_to(original).as_posix() for p in original.rglob("*") if p.is_file()}
    names |= {p.relative_to(rebuilt).as_posix() for p in rebuilt.rglob("*") if p.is_file()}
    for name in sorted(names):
        a, b = original / name, rebuilt / name
        if not (a.is_file() and b.is_file()):
            changed.append(f"file {name}: only in the {'original' if a.is_file() else 'rebuilt'}")
        elif a.read_bytes() == b.read_bytes():
            continue
        elif _same_content(a, b):
            volatile.append(name)
        else:
            changed.append(f"file {name}: its content differs")
    return changed, volatile


def _same_content(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` hold the same model content: a zip archive's entries
    by name and bytes, ``MLmodel`` without the keys MLflow writes anew."""
    if a.name == "MLmodel":
        texts = [yaml.safe_load(path.read_text()) or {} for path in (a, b)]
        for text in texts:
            for key in VOLATILE_MLMODEL_KEYS:
                text.pop(key, None)
        return texts[0] == texts[1]
    if zipfile.is_zipfile(a) and zipfile.is_zipfile(b):
        return _archive_content(a) == _archive_content(b)
    return False


def _archive_content(path: Path) -> tuple[str, ...]:
    """A zip archive's content, whatever its entries are named and when they were
    written: each entry's bytes by their SHA-256, and in a JSON entry (skops'
    ``schema.json``) the names of other entries replaced by their digests and each
    ``__id__`` by its order of appearance. skops names both after the ``id()``
    of the objects saved, which changes from process to process."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in entries.items()}
    content = []
    for name, data in entries.items():
        if name.endswith(".json"):
            try:
                tree = _renamed(json.loads(data), digests, {})
            except ValueError:
                tree = None
            if tree is not None:
                data = json.dumps(tree, sort_keys=True).encode()
        content.append(hashlib.sha256(data).hexdigest())
    return tuple(sorted(content))


def _renamed(node, digests: dict[str, str], ids: dict):
    """``node`` with entry names as digests and ``__id__`` values as their order."""
    if isinstance(node, dict):
        return {
            key: ids.setdefault(value, len(ids)) if key == "__id__" else
            _renamed(value, digests, ids)
            for key, value in node.items()
        }  # fmt: skip
    if isinstance(node, list):
        return [_renamed(value, digests, ids) for value in node]
    if isinstance(node, str):
        return digests.get(node, node)
    return node


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe(outcome: Reproduction) -> str:
    """The report ``mlops reproduce`` prints."""
    lines = [f"reproduce {outcome.version}: new run {outcome.run_id}"]
    lines += [f"note: {note}" for note in outcome.notes]
    for name, before, now in outcome.metrics:
        mark = "same" if _same(before, now) else "DIFFERENT"
        lines.append(f"  {name:<32} recorded {before!r:<22} now {now!r:<22} {mark}")
    if outcome.volatile:
        lines.append(
            "bytes differ only in what the formats record of the save: "
            + ", ".join(outcome.volatile)
            + " (model.skops: a zip archive, its entries named after the memory addresses "
            "of the arrays they hold and stamped with the time they were written; MLmodel: "
            "model_uuid and utc_time_created, new at every save)"
        )
    lines += [f"  {difference}" for difference in outcome.differences]
    lines.append(f"reproduce: {outcome.verdict.upper()}")
    return "\n".join(lines)
