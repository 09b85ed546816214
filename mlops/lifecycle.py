"""The lifecycle as plain functions over a target: register data, train, gate,
register the model, deploy, and ``run`` (all of them in turn).

Each function takes the target and the settings, does one stage and returns
what it produced; the CLI only parses arguments and prints. Errors a user can
act on are raised as ``LifecycleError`` (or the more specific errors of the
modules below) with a one-line message.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlops import deploy as blue_green
from mlops import promotion
from mlops.data_checks import feature_columns, require_columns
from mlops.deploy import DeployResult
from mlops.errors import UserError
from mlops.gate import Champion, Decision
from mlops.outcome import Outcome
from mlops.reports import GateReport, write_gate_report
from mlops.settings import Settings
from mlops.summary import describe_asset
from mlops.targets.base import DataAsset, ModelVersion, PipelineRun, Printer, Target

CURVES_FILE = "curves.json"
SAMPLE_REQUEST = "sample-request.json"


class LifecycleError(UserError):
    """A stage cannot go ahead; the message says why and what to do."""


def register_data(target: Target, settings: Settings) -> DataAsset:
    """Validate and register ``data.path``; the same bytes give the same version."""
    return target.register_data(settings.resolve(settings.data.path))


def pipeline_inputs(settings: Settings, asset: DataAsset) -> dict[str, object]:
    """The pipeline inputs the settings decide, for a run on ``asset``."""
    data = settings.data
    require_columns(asset.columns, data, where=f"data asset {asset.ref}")
    return {
        "target_column": data.target_column,
        "sensitive_column": data.sensitive_column,
        "positive_class": data.positive_class,
        "features": ",".join(feature_columns(asset.columns, data)),
        "test_size": settings.pipeline.test_size,
        "seed": settings.pipeline.seed,
    }


def train(
    target: Target, settings: Settings, show: Printer, data_version: str | None = None
) -> PipelineRun:
    """Run the training pipeline on a registered data version (the latest by default)."""
    asset = target.find_data(data_version)
    if asset is None:
        wanted = f"version {data_version} of " if data_version else ""
        raise LifecycleError(
            f"no {wanted}data asset {settings.data.asset_name!r} is registered; "
            "run `mlops register-data` first"
        )
    return target.run_pipeline(asset, pipeline_inputs(settings, asset), show)


def gate(
    target: Target, settings: Settings, run_id: str, report_dir: Path | None = None
) -> tuple[Decision, dict[str, Path]]:
    """Gate run ``run_id`` against the serving model; write and log the reports."""
    run = target.get_run(run_id)
    decision, serving = promotion.gate(target, settings, run)
    model = target.find_model(run.run_id)
    reports = _write_reports(target, settings, run, decision, serving, model, report_dir)
    return decision, reports


def register(
    target: Target, settings: Settings, run_id: str, report_dir: Path | None = None
) -> tuple[ModelVersion, Decision, dict[str, Path]]:
    """Gate run ``run_id`` and register its model with the verdict (once per run)."""
    run = target.get_run(run_id)
    existing = target.find_model(run.run_id)
    decision, serving = promotion.gate(target, settings, run)
    if existing is not None:
        # Registered before: its recorded verdict stands; this one is reported only.
        return existing, decision, {}
    model = promotion.register(target, settings, run, decision)
    reports = _write_reports(target, settings, run, decision, serving, model, report_dir)
    return model, decision, reports


def deploy(target: Target, settings: Settings, version: str, show: Printer) -> DeployResult:
    """Deploy model version ``version`` blue/green, if the gate promoted it."""
    model = target.get_model(version)
    promotion.require_promoted(model)
    with target.endpoint_lock():
        target.resume_endpoint(show)
        result = blue_green.deploy(target, settings, model, show)
    _save_sample(settings, result)
    return result


def start_endpoint(target: Target, settings: Settings, show: Printer) -> None:
    """Start again whatever of the endpoint has stopped (after a reboot)."""
    if target.get_endpoint() is None:
        raise LifecycleError(
            f"endpoint {settings.endpoint.name} does not exist; deploy a model with `mlops run`"
        )
    with target.endpoint_lock():
        target.resume_endpoint(show)


def sample_request(settings: Settings) -> Path:
    """The file holding a scoring request of two test rows, written by every deploy."""
    return settings.resolve(settings.local.state_dir) / SAMPLE_REQUEST


def read_request(settings: Settings, path: Path | None) -> bytes:
    """The body of ``mlops endpoint invoke``: ``path``, standard input for ``-``,
    or the sample request of the last deploy."""
    if path is not None and str(path) == "-":
        return sys.stdin.buffer.read()
    path = path or sample_request(settings)
    try:
        return path.read_bytes()
    except OSError:
        raise LifecycleError(
            f"{path}: cannot read the request file (pass --request-file)"
        ) from None


def _save_sample(settings: Settings, result: DeployResult) -> None:
    path = sample_request(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(result.sample)


def run(target: Target, settings: Settings, show: Printer) -> Outcome:
    """The main job: register the data, train on exactly that version, then gate
    against the serving model, register, and deploy if promoted."""
    asset = register_data(target, settings)
    show(describe_asset(asset))
    trained = train(target, settings, show, data_version=asset.version)
    if trained.status != "Completed":
        return Outcome(asset, trained)
    # Held from the gate to the end of the deploy: the champion cannot change
    # between the comparison and the swap.
    with target.endpoint_lock():
        # A local endpoint does not outlive a reboot: bring the champion back
        # first, so that the endpoint serves whatever the gate decides.
        target.resume_endpoint(show)
        decision, serving = promotion.gate(target, settings, trained)
        model = promotion.register(target, settings, trained, decision)
        show(f"model {model.ref} registered; gate: {decision.verdict}")
        # The reports (matplotlib) are drawn while the new deployment starts.
        with ThreadPoolExecutor(max_workers=1) as pool:
            reports = pool.submit(
                _write_reports, target, settings, trained, decision, serving, model, None
            )
            deployed = None
            if decision.promote:
                deployed = blue_green.deploy(target, settings, model, show)
                _save_sample(settings, deployed)
            written = reports.result()
    return Outcome(asset, trained, model, decision, written, deployed)


def _write_reports(
    target: Target,
    settings: Settings,
    run: PipelineRun,
    decision: Decision,
    serving: Champion | None,
    model: ModelVersion | None,
    folder: Path | None,
) -> dict[str, Path]:
    folder = folder or settings.resolve(settings.local.state_dir) / "reports" / run.run_id
    report = GateReport(
        decision=decision,
        run_id=run.run_id,
        data_asset=run.data_asset,
        candidate_metrics=run.metrics,
        champion=serving,
        endpoint=settings.endpoint.name,
        model=model.ref if model else None,
        candidate_curves=_curves(target, run),
        champion_curves=_champion_curves(target, serving),
    )
    written = write_gate_report(folder, report)
    target.log_files(run, folder, "gate")
    return written


def _curves(target: Target, run: PipelineRun) -> dict | None:
    try:
        return json.loads((target.output_path(run, "metrics") / CURVES_FILE).read_text())
    except (LookupError, OSError, ValueError):
        return None  # a run from before the curves were written: no picture


def _champion_curves(target: Target, serving: Champion | None) -> dict | None:
    if serving is None or serving.metrics is None:
        return None
    try:
        run_id = target.get_model(serving.version).run_id
        return _curves(target, target.get_run(run_id)) if run_id else None
    except LookupError:
        return None
