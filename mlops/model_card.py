"""A model card per registered version: one page an auditor reads.

``build(target, settings, model)`` gathers what the environment records of a
version: its purpose and kind, intended use and limitations (the model's
``card:`` settings), the data version it was trained on and its size, the
features it takes, its metrics, the gate's decision and its reasons, its
fairness by group and what it relies on (from its evaluate step), its
lineage (commit, run, data, pipeline, digest, where it was promoted from),
and where it served and since when (the audit trail and its tags). The card
is built from the records each time, so it says what is true now; ``store``
writes it (``model_card.json`` and ``model_card.md``) under the version's run
in the target's run records (an MLflow artifact locally, beside the run's
outputs in the datastore on Azure), at registration and after each deploy,
rollback and promotion. ``mlops card [VERSION]`` prints it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mlops import audit_trail, promotion
from mlops.kinds import get_kind
from mlops.lineage import COMMIT_TAG, DATA_TAG, DIRTY_TAG, metrics_from_tags
from mlops.reports import report_folder, shap_line
from mlops.runs import EXPLANATIONS_FILE, EXPLANATIONS_OUTPUT, METRICS_OUTPUT
from mlops.settings import Settings
from mlops.state_files import write_file
from mlops.targets.base import ADOPTED_TAG, DEPLOYED_TAG, GATE_TAG, ModelVersion
from mlops.task import model_kind, task_from_tags

JSON_FILE, MARKDOWN_FILE = "model_card.json", "model_card.md"
ARTIFACT_PATH = "card"
TOP_FEATURES = 10


def build(target, settings: Settings, model: ModelVersion) -> dict:
    """The card of ``model`` (a version of this environment), as plain JSON. A
    version taken in from the registry has the card promoted with it, with where
    it served in this environment."""
    tags = model.tags
    promoted = _promoted_card(target, model)
    if promoted is not None:
        lineage = {
            **promoted.get("lineage", {}),
            "registry": tags.get(ADOPTED_TAG),
            "promoted_from": tags.get("mlops.source_version"),
        }
        served = _served(target, settings, model)
        return {**promoted, "model": model.ref, "lineage": lineage, "served": served}
    kind = model_kind(model, settings.kind)
    task = task_from_tags(tags)
    run = _run(target, model)
    data_ref = tags.get(DATA_TAG, "")
    asset = target.find_data(data_ref.rpartition(":")[2]) if data_ref else None
    explained = _evaluated(target, run, EXPLANATIONS_OUTPUT, EXPLANATIONS_FILE) or {}
    curves = _evaluated(target, run, METRICS_OUTPUT, "curves.json") or {}
    gate_report = _gate_report(settings, model)
    return {
        "model": model.ref,
        "kind": kind,
        "purpose": get_kind(kind).summary,
        "intended_use": settings.card.intended_use,
        "limitations": settings.card.limitations,
        "data": {
            "version": data_ref or None,
            "rows": asset.rows if asset else None,
            "classes": list(asset.classes) if asset else None,
            "sha256": asset.sha256 if asset else None,
        },
        "features": {
            "target": task.target_column if task else settings.data.target_column,
            "sensitive": settings.data.sensitive_column,
            "features": list(task.features) if task and task.features else None,
        },
        "metrics": metrics_from_tags(tags),
        "gate": {
            "verdict": tags.get(GATE_TAG),
            "against": tags.get("mlops.gate_champion"),
            "failed": tags.get("mlops.gate_failed"),
            "checks": gate_report.get("checks", []),
        },
        "fairness_by_group": curves.get("groups", {}),
        "explanations": {
            "method": explained.get("method"),
            "scoring": explained.get("scoring"),
            "top": explained.get("features", [])[:TOP_FEATURES],
            "shap": explained.get("shap"),
        },
        "lineage": {
            "git_commit": tags.get(COMMIT_TAG),
            "git_dirty": tags.get(DIRTY_TAG),
            "run": model.run_id,
            "pipeline": str(settings.pipeline.file),
            "digest": model.digest,
            "registry": tags.get(ADOPTED_TAG),
            "promoted_from": tags.get("mlops.source_version"),
        },
        "served": _served(target, settings, model),
    }


def _served(target, settings: Settings, model: ModelVersion) -> dict:
    """Where ``model`` served in this environment and since when (its audit events)."""
    events = [
        {key: event.get(key) for key in ("time", "action", "deployment", "who", "why")}
        for event in audit_trail.read(target.audit, settings.model_id).events
        if event.get("version") == model.ref
    ]
    return {"last_deployed": model.tags.get(DEPLOYED_TAG), "events": events}


def _promoted_card(target, model: ModelVersion) -> dict | None:
    """The card promoted with the registry version ``model`` was taken in from."""
    adopted = model.tags.get(ADOPTED_TAG, "")
    if not adopted:
        return None
    folder = target.registry_promoted_with(adopted.rpartition(":")[2])
    try:
        return json.loads((folder / JSON_FILE).read_text()) if folder else None
    except (OSError, ValueError):
        return None


def _run(target, model: ModelVersion):
    try:
        return target.get_run(model.run_id) if model.run_id else None
    except LookupError:
        return None  # trained in another environment: what travels with it is shown


def _evaluated(target, run, output: str, name: str):
    return promotion.evaluated(target, run, output, name) if run is not None else None


def _gate_report(settings: Settings, model: ModelVersion) -> dict:
    try:
        path = report_folder(settings, model.run_id or model.version) / "gate.json"
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def markdown(card: dict) -> str:
    """The card as Markdown."""
    data, features, lineage, gate = card["data"], card["features"], card["lineage"], card["gate"]
    described = f"Version `{data['version']}`: {_known(data['rows'])} rows"
    if data["classes"]:
        described += f", classes {', '.join(data['classes'])}"
    if data["sha256"]:
        described += f", SHA-256 `{data['sha256'][:12]}...`"
    taken = ", ".join(features["features"] or ["(recorded as a digest)"])
    lines = [
        f"# Model card: {card['model']}",
        "",
        f"**Kind:** {card['kind']}: {card['purpose']}.",
        "",
        f"**Intended use:** {card['intended_use'] or 'not stated (card.intended_use)'}",
        "",
        f"**Limitations:** {card['limitations'] or 'not stated (card.limitations)'}",
        "",
        "## Data",
        f"{described}. Target `{features['target']}`; sensitive column "
        f"`{features['sensitive'] or '-'}`; features: {taken}.",
        "",
        "## Metrics and the gate",
        "| metric | value |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {_known(value)} |" for name, value in card["metrics"].items()]
    lines += ["", f"Gate: **{gate['verdict']}** against champion {gate['against']} "
              f"(failed: {gate['failed']})."]  # fmt: skip
    lines += [f"- {c['kind']} {c['metric']}: {c['reason']}" for c in gate["checks"]]
    lines += ["", "## Fairness by group", *_groups(card["fairness_by_group"])]
    lines += ["", "## What it relies on"]
    top = card["explanations"]["top"]
    if top:
        lines.append(f"Permutation importance ({card['explanations']['scoring']}):")
        lines += [f"{n}. {e['feature']}: {e['mean']:.4f} ± {e['std']:.4f}"
                  for n, e in enumerate(top, 1)]  # fmt: skip
    elif not get_kind(card["kind"]).family.labelled:
        lines.append("Not measured: its inputs are prompts, not feature columns.")
    else:
        lines.append("Not measured (its evaluate step predates explanations).")
    shap = shap_line(card["explanations"], TOP_FEATURES)
    if shap:
        lines += ["", shap]
    origin = ""
    if lineage["registry"]:
        origin = f", promoted from {lineage['promoted_from']} as {lineage['registry']}"
    lines += [
        "",
        "## Lineage",
        f"Commit `{lineage['git_commit']}` (uncommitted changes: {lineage['git_dirty']}), run "
        f"`{lineage['run']}`, pipeline `{lineage['pipeline']}`, digest `{lineage['digest']}`"
        f"{origin}.",
        "",
        "## Where it served",
        f"Last deployed: {card['served']['last_deployed'] or 'never'}.",
    ]
    lines += [f"- {e['time']} {e['action']} ({e['deployment'] or '-'}) by {e['who']}: {e['why']}"
              for e in card["served"]["events"]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _groups(groups: dict) -> list[str]:
    if not groups:
        return ["No sensitive column, or not measured."]
    measures = sorted({name for row in groups.values() for name in row})
    return [
        "| group | " + " | ".join(measures) + " |",
        "|---|" + "---:|" * len(measures),
        *[
            f"| {group} | " + " | ".join(_known(row.get(m)) for m in measures) + " |"
            for group, row in groups.items()
        ],
    ]


def _known(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def store(target, settings: Settings, model: ModelVersion) -> None:
    """Write the card of ``model`` where its run's records are (see the module docstring)."""
    run = _run(target, model)
    if run is None:
        return  # a version trained elsewhere: its card is the registry's
    with tempfile.TemporaryDirectory(prefix="mlops-card-") as scratch:
        write(Path(scratch), build(target, settings, model))
        target.log_files(run, Path(scratch), ARTIFACT_PATH)


def write(folder: Path, card: dict) -> None:
    """``card`` as ``model_card.json`` and ``model_card.md`` in ``folder``."""
    write_file(folder / JSON_FILE, (json.dumps(card, indent=2) + "\n").encode())
    write_file(folder / MARKDOWN_FILE, markdown(card).encode())
