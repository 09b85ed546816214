"""Plain-text views of assets and runs for the terminal (no I/O)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.gate import Decision
from mlops.outcome import Outcome
from mlops.targets.base import GATE_TAG, DataAsset, Endpoint, ModelVersion, PipelineRun
from mlops.text_table import table

if TYPE_CHECKING:  # imported for types only: it pulls in pandas
    from mlops.deploy import DeployResult


def describe_asset(asset: DataAsset) -> str:
    state = "registered" if asset.new else "already registered"
    where = asset.path if "://" in asset.path else _relative(Path(asset.path))
    return f"data {asset.ref} {state} ({asset.rows} rows, {where})"


def describe_run(run: PipelineRun, counts: Iterable[str] = ()) -> str:
    """Run header, per-step times and the metrics table; the metrics named in
    ``counts`` (the catalogue's ``better: null``, such as ``test_rows``) are
    shown as whole numbers."""
    counted = set(counts)
    header = ["step", "status", "seconds"]
    rows = [(s.name, s.status, f"{s.seconds:.1f}") for s in run.steps]
    if any(s.reused_from for s in run.steps):
        header.append("reused from run")
        rows = [(*row, s.reused_from or "-") for row, s in zip(rows, run.steps, strict=True)]
    parts = [
        f"run {run.run_id}: {run.status} in {run.seconds:.1f} s on data {run.data_asset}",
        table(header, rows),
    ]
    if run.metrics:
        rows = [(k, f"{v:.0f}" if k in counted else f"{v:.4f}") for k, v in run.metrics.items()]
        parts.append(table(["metric", "value"], rows))
    if run.error:
        parts.append(f"error: {run.error}")
    return "\n\n".join(parts)


def describe_runs(runs: Sequence[PipelineRun], headline: str = "auc") -> str:
    """The runs, newest first, each with its ``headline`` metric (the kind's)."""
    if not runs:
        return "no pipeline runs yet (run `mlops train`)"
    rows = [
        (r.run_id, r.status, r.data_asset, f"{r.seconds:.1f}", _fmt(r.metrics.get(headline)))
        for r in runs
    ]
    return table(["run", "status", "data", "seconds", headline], rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def describe_decision(decision: Decision) -> str:
    """The gate's checks as a table, then the verdict and why."""
    rows = [
        (
            c.kind,
            c.metric,
            c.better,
            _fmt(c.candidate),
            _fmt(c.champion),
            c.threshold,
            "pass" if c.passed else "FAIL",
        )
        for c in decision.checks
    ]
    header = ["rule", "metric", "better", "candidate", "champion", "threshold", "result"]
    lines = [
        table(header, rows),
        "",
        f"gate: {decision.verdict.upper()} (against {decision.against})",
    ]
    lines += [f"  - {c.reason}" for c in (decision.failed() or decision.checks)]
    lines += [f"  - {note}" for note in decision.notes]
    return "\n".join(lines)


def describe_reports(reports: Mapping[str, Path]) -> str:
    if not reports:
        return "reports: none written (the run was registered before)"
    return "reports: " + ", ".join(str(_relative(path)) for path in reports.values())


def describe_recorded_verdict(model: ModelVersion) -> str:
    """What the registry recorded when ``model`` was registered (its verdict stands)."""
    tags = model.tags
    champion = tags.get("mlops.gate_champion", "none")
    against = f"champion {champion}" if champion != "none" else "no champion"
    return (
        f"model {model.ref} already registered from run {model.run_id or '-'} on "
        f"{model.created}; gate then: {tags.get(GATE_TAG, 'unknown')} (against {against}; "
        f"failed: {tags.get('mlops.gate_failed', 'unknown')})"
    )


def describe_models(
    models: Sequence[ModelVersion], endpoint: Endpoint | None, headline: str = "auc"
) -> str:
    """The registered versions, newest first, each with its ``headline`` metric."""
    if not models:
        return "no model registered yet (run `mlops register RUN` or `mlops run`)"
    serving = endpoint.serving() if endpoint else None
    rows = [
        (
            m.version,
            m.tags.get(GATE_TAG, "-"),
            m.run_id or "-",
            m.tags.get("mlops.data_asset", "-"),
            _fmt(_float(m.tags.get(f"metric.{headline}"))),
            m.tags.get("mlops.git_commit", "-")[:10],
            (m.deployed_at or "-")[:16].replace("T", " "),
            "serving" if serving and serving.serves(m) else "",
        )
        for m in models
    ]
    header = ["version", "gate", "run", "data", headline, "commit", "last deployed", "endpoint"]
    return table(header, rows)


def describe_endpoint(endpoint: Endpoint | None, name: str) -> str:
    if endpoint is None:
        return f"endpoint {name}: not created yet (run `mlops deploy` or `mlops run`)"
    rows = [
        (d.name, d.model, f"{endpoint.traffic.get(d.name, 0)} %", d.state, d.scoring_uri)
        for d in endpoint.deployments
    ]
    uri = endpoint.scoring_uri or "(not running: `mlops endpoint start`)"
    return "\n".join(
        [
            f"endpoint {endpoint.name}: {uri}",
            table(["deployment", "model", "traffic", "state", "direct URI"], rows),
        ]
    )


def curl_line(scoring_uri: str, request_file: Path, token_resource: str | None = None) -> str:
    """A command that scores the sample request on the endpoint; with
    ``token_resource``, signed with the caller's token from the Azure CLI."""
    auth = ""
    if token_resource:
        token = (
            f"$(az account get-access-token --resource {token_resource} --query accessToken -o tsv)"
        )
        auth = f' -H "Authorization: Bearer {token}"'
    return (
        f"curl -s -X POST {scoring_uri} -H 'Content-Type: application/json'{auth} "
        f"-d @{shlex.quote(str(request_file))}"
    )


def describe_deploy(result: DeployResult, request_file: Path) -> str:
    if result.smoke is None:
        head = f"{result.model} was already serving on deployment {result.deployment}"
    else:
        replaced = f", replacing {result.replaced}" if result.replaced else ""
        head = f"deployed {result.model} to deployment {result.deployment}{replaced}"
    return "\n".join(
        [
            head,
            f"endpoint: {result.scoring_uri}",
            f"try it:   "
            f"{curl_line(result.scoring_uri, _relative(request_file), result.token_resource)}",
        ]
    )


def deploy_summary(result: DeployResult, args) -> str:
    """The job summary's line for ``mlops deploy``: what was deployed, and the
    gate's table or the reason a human gave to deploy it past the gate."""
    gate = describe_decision(result.decision) if result.decision else ""
    given = [
        f"{label}: {reason}"
        for label, reason in (
            ("Rollback", args.rollback),
            ("Gate overridden", args.override_gate),
            ("Task replaced", args.replace_task),
        )
        if reason
    ]
    why = (" " + "; ".join(given)) if given else ""
    table_part = f"\n\n```\n{gate}\n```" if gate else ""
    return f"Deployed {result.model} as `{result.deployment}`.{why}{table_part}"


def describe_outcome(outcome: Outcome, request_file: Path, counts: Iterable[str] = ()) -> str:
    """The main job's summary: the run, the gate, the model and the endpoint."""
    parts = [describe_run(outcome.run, counts)]
    if outcome.decision is not None:
        parts.append(describe_decision(outcome.decision))
        parts.append(describe_reports(outcome.reports))
    if outcome.model is not None:
        deployed = outcome.deployed
        if deployed is None or deployed.model != outcome.model.ref:
            if outcome.decision is not None and outcome.decision.champion_version is None:
                fate = "no model serves yet"
            else:
                keeps = "keeps serving" if deployed is None else "serves again"
                fate = f"the endpoint {keeps} its champion"
            parts.append(
                f"model {outcome.model.ref} registered, not deployed: the gate rejected it; {fate}"
            )
        if deployed is not None:
            parts.append(describe_deploy(deployed, request_file))
    return "\n\n".join(parts)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
