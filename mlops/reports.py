"""The gate's decision as files a CI job can publish: JSON, Markdown and a PNG.

``write_gate_report(folder, report)`` writes ``gate.json``, ``gate.md`` and,
when curves are given, ``gate.png`` into ``folder`` (each replaced whole and
never through a link, see mlops.state_files). When the environment has
``GITHUB_STEP_SUMMARY`` (inside a GitHub Actions job), the Markdown is also
appended to the job summary. The text builders are pure.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.gate import Champion, Decision
from mlops.state_files import write_file

JSON_FILE = "gate.json"
MARKDOWN_FILE = "gate.md"
PICTURE_FILE = "gate.png"
TOP_FEATURES = 5  # features of each model the report shows


@dataclass(frozen=True)
class GateReport:
    decision: Decision
    run_id: str
    data_asset: str
    candidate_metrics: Mapping[str, float]
    champion: Champion | None
    endpoint: str
    model: str | None = None  # "name:version" once registered
    # What the evaluate step drew (its curves.json) for each model, if known
    candidate_curves: Mapping | None = None
    champion_curves: Mapping | None = field(default=None)
    kind: str = "binary-classification"  # the models' kind: what the curves hold
    # What the evaluate step found each model relies on (its explanations.json), if known
    candidate_explanations: Mapping | None = None
    champion_explanations: Mapping | None = None


def report_folder(settings, run_id: str) -> Path:
    """Where the gate report of run ``run_id`` is written (under the settings' state
    folder), and a failed deployment's log kept."""
    return settings.state_folder() / "reports" / run_id


def report_json(report: GateReport) -> str:
    champion = report.champion
    document = {
        **report.decision.to_dict(),
        "candidate": {
            "run_id": report.run_id,
            "data_asset": report.data_asset,
            "model": report.model,
            "metrics": dict(report.candidate_metrics),
        },
        "champion": None
        if champion is None
        else {
            "version": champion.version,
            "metrics": champion.metrics,
            "problem": champion.problem,
            "note": champion.note,
        },
        "endpoint": report.endpoint,
        "top_features": {
            "candidate": _top(report.candidate_explanations),
            "champion": _top(report.champion_explanations) if champion else None,
            "candidate_shap": (report.candidate_explanations or {}).get("shap"),
        },
    }
    return json.dumps(_finite(document), indent=2)


def _top(explanations: Mapping | None) -> list[dict] | None:
    """The ``TOP_FEATURES`` most important features of an ``explanations.json``."""
    if not explanations:
        return None
    return [dict(entry) for entry in explanations.get("features", [])[:TOP_FEATURES]]


def shap_line(explanations: Mapping | None, top: int = TOP_FEATURES) -> str | None:
    """One line on the SHAP values of an ``explanations.json`` (its ``top`` features,
    or why there are none); None when the evaluate step was not asked for them."""
    entry = (explanations or {}).get("shap")
    if not entry:
        return None
    if "skipped" in entry:
        return f"SHAP values: none, {entry['skipped']}."
    features = entry.get("features", [])[:top]
    values = ", ".join(f"{e['feature']} {e['mean_abs']:.4g}" for e in features)
    return (
        f"SHAP values (mean |value| on the {entry['scale']}, {entry['rows']} test rows): {values}."
    )


def top_features_markdown(report: GateReport) -> list[str]:
    """The report's lines on what the candidate and the champion rely on (none
    when the candidate's evaluate step measured nothing of it)."""
    candidate = _top(report.candidate_explanations)
    if not candidate:
        return []
    explained = report.candidate_explanations
    champion = _top(report.champion_explanations) if report.champion else None
    head = "| # | candidate | importance |"
    rule = "|---:|---|---:|"
    if champion:
        head += f" champion v{report.champion.version} | importance |"
        rule += "---|---:|"
    lines = [
        "",
        f"What the models rely on: permutation importance ({explained.get('scoring')}: how "
        f"much it drops when a feature is shuffled; mean ± std over "
        f"{explained.get('repeats')} shuffles of {explained.get('rows')} test rows).",
        "",
        head,
        rule,
    ]
    for place in range(max(len(candidate), len(champion or []))):
        row = f"| {place + 1} | {_feature_cell(candidate, place)} |"
        if champion:
            row += f" {_feature_cell(champion, place)} |"
        lines.append(row)
    if report.champion and not champion:
        lines += [
            "",
            "The champion's importances are unknown here: its training run predates them, "
            "measures another task, or is held by another environment.",
        ]
    shap = shap_line(explained)
    return [*lines, "", f"The candidate's {shap}"] if shap else lines


def _feature_cell(entries: list[dict], place: int) -> str:
    if place >= len(entries):
        return " | "  # its two cells, empty
    entry = entries[place]
    return f"{entry['feature']} | {entry['mean']:.4f} ± {entry['std']:.4f}"


def report_markdown(report: GateReport, picture: str | None = None) -> str:
    decision = report.decision
    verdict = "PROMOTE" if decision.promote else "REJECT"
    champion = report.champion
    if champion is None:
        versus = f"no version was ever deployed to endpoint `{report.endpoint}`"
    elif champion.note:
        versus = f"champion: version {champion.version}, {champion.note}"
    else:
        versus = f"champion: version {champion.version}, serving on endpoint `{report.endpoint}`"
    lines = [
        f"### Promotion gate: **{verdict}**",
        "",
        f"Candidate: run `{report.run_id}` on data `{report.data_asset}`"
        + (f", registered as `{report.model}`" if report.model else "")
        + f"; {versus}.",
        "",
        "| rule | metric | better | candidate | champion | threshold | result |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for check in decision.checks:
        lines.append(
            f"| {check.kind} | {check.metric} | {check.better} | {_number(check.candidate)} "
            f"| {_number(check.champion)} | {check.threshold} "
            f"| {'pass' if check.passed else '**fail**'} |"
        )
    failed = decision.failed()
    lines += ["", "Why:" if failed else "Every rule holds."]
    lines += [f"- {check.reason}" for check in failed]
    lines += [f"- {note}" for note in decision.notes]
    lines += top_features_markdown(report)
    if picture:
        from mlops.kinds import get_kind

        lines += ["", f"![{get_kind(report.kind).picture}]({picture})"]
    return "\n".join(lines) + "\n"


def write_gate_report(folder: Path, report: GateReport) -> dict[str, Path]:
    """Write the report files into ``folder``; return them by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {"json": folder / JSON_FILE, "markdown": folder / MARKDOWN_FILE}
    if report.candidate_curves:
        from mlops.report_plot import draw_gate_picture  # matplotlib: imported when drawn

        written["picture"] = folder / PICTURE_FILE
        champion = report.champion
        draw_gate_picture(
            written["picture"],
            title=f"Gate: {report.decision.verdict} (run {report.run_id})",
            candidate=report.candidate_curves,
            champion=report.champion_curves if champion else None,
            champion_label=f"champion v{champion.version}" if champion else "champion",
            kind=report.kind,
        )
    write_file(written["json"], (report_json(report) + "\n").encode())
    markdown = report_markdown(report, PICTURE_FILE if "picture" in written else None)
    write_file(written["markdown"], markdown.encode())
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(report_markdown(report) + "\n")
    return written


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def _finite(value):
    # JSON has no NaN or infinity; a failed metric is written as text.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
