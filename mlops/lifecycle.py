"""The lifecycle as plain functions over a target: register data, train, gate,
register the model, deploy, and ``run`` (all of them in turn).

Each function takes the target and the settings, does one stage and returns
what it produced; the CLI only parses arguments and prints. Errors a user can
act on are raised as ``LifecycleError`` (or the more specific errors of the
modules below) with a one-line message.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from mlops import audit, audit_trail, github, model_card, promotion
from mlops import deploy as blue_green
from mlops.deploy import DeployResult
from mlops.errors import GateRejected, UserError
from mlops.families import operations
from mlops.gate import PROMOTE, Champion, Decision
from mlops.input_checks import check_inputs, inputs_from
from mlops.kinds import get_kind
from mlops.lineage import DATA_TAG
from mlops.metric_catalog import check_settings
from mlops.monitoring.training_data import baseline_of
from mlops.monitoring.trigger import TRIGGER_REPORT_TAG, DriftReport, trigger_tags
from mlops.outcome import Outcome
from mlops.reports import GateReport, report_folder, write_gate_report
from mlops.runs import EXPLANATIONS_FILE, EXPLANATIONS_OUTPUT, METRICS_OUTPUT
from mlops.settings import Settings
from mlops.state_files import refuse_link, write_file
from mlops.summary import describe_asset
from mlops.targets.base import (
    ADOPTED_TAG,
    DEPLOYED_TAG,
    DIGEST_TAG,
    GATE_TAG,
    REGISTRY_PREFIX,
    ROLLBACK_TAG,
    DataAsset,
    ModelVersion,
    PipelineRun,
    Printer,
    Target,
)
from mlops.task import REPLACED_TAG, model_kind

CURVES_FILE = "curves.json"
# Tags a promoted version gains: the workspace and version it came from, and its gate report.
SOURCE_TAG = "mlops.source_workspace"
SOURCE_VERSION_TAG = "mlops.source_version"
GATE_REPORT_TAG = "mlops.gate_report"
# Per endpoint: two endpoints of one state folder each keep their own request.
SAMPLE_REQUESTS = "requests"


class LifecycleError(UserError):
    """A stage cannot go ahead; the message says why and what to do."""


class RejectedByGate(LifecycleError, GateRejected):
    """The version was registered with the gate's verdict reject."""


def preflight(
    target: Target, settings: Settings, *, deploying: bool = False, training: bool = False
) -> None:
    """Check, before any work, what would otherwise fail only after training: the
    gate's rules against the metrics the pipeline writes, what the target needs
    (to deploy, when ``deploying``, and a link where the sample request goes) and,
    when ``training``, the settings that feed pipeline inputs against the type and
    bounds of the steps they reach. Raises a ``UserError`` naming the key or file."""
    check_settings(settings)
    target.preflight(deploying=deploying)
    if deploying:  # written after the deploy, when refusing it would come too late
        refuse_link(sample_request(settings))
    if training:
        graph = target.pipeline_graph()
        keys = get_kind(settings.kind).family.settings_inputs
        check_inputs(graph, settings_inputs(settings), keys, settings.source)


def register_data(target: Target, settings: Settings) -> DataAsset:
    """Validate and register ``data.path``; the same bytes give the same version."""
    return target.register_data(settings.data_source())


def settings_inputs(settings: Settings) -> dict[str, object]:
    """The pipeline inputs set straight from a settings key (the kind's family's
    ``settings_inputs``), by pipeline input name."""
    return inputs_from(settings, get_kind(settings.kind).family.settings_inputs)


def pipeline_inputs(settings: Settings, asset: DataAsset) -> dict[str, object]:
    """The pipeline inputs the settings decide, for a run on ``asset`` (the kind's
    family decides which: see ``mlops.kinds``)."""
    return operations(settings.kind).pipeline_inputs(settings, asset)


def train(
    target: Target,
    settings: Settings,
    show: Printer,
    data_version: str | None = None,
    force_rerun: bool = False,
) -> PipelineRun:
    """Run the training pipeline on a registered data version (the latest by default);
    with ``force_rerun``, no step reuses an earlier run's outputs."""
    asset = target.find_data(data_version)
    if asset is None:
        wanted = f"version {data_version} of " if data_version else ""
        raise LifecycleError(
            f"no {wanted}data asset {settings.data.asset_name!r} is registered; "
            "run `mlops register-data` first"
        )
    return target.run_pipeline(asset, pipeline_inputs(settings, asset), show, force_rerun)


def gate(
    target: Target,
    settings: Settings,
    run_id: str,
    report_dir: Path | None = None,
    replace_task: str | None = None,
) -> tuple[Decision, dict[str, Path]]:
    """Gate run ``run_id`` against the serving model; write and log the reports.
    ``replace_task`` is the reason to replace a champion of another task."""
    audit.require_reason("--replace-task", replace_task)
    run = target.get_run(run_id)
    decision, serving = promotion.gate(target, settings, run, replace_task)
    model = target.find_model(run.run_id)
    reports = _write_reports(target, settings, run, decision, serving, model, report_dir)
    return decision, reports


def register(
    target: Target,
    settings: Settings,
    run_id: str,
    report_dir: Path | None = None,
    replace_task: str | None = None,
) -> tuple[ModelVersion, Decision | None, dict[str, Path]]:
    """Gate run ``run_id`` and register its model with the verdict, once per run.

    A run registered before keeps the verdict recorded then: it is returned with
    no new decision (None) and no reports, so nothing contradicts the record."""
    audit.require_reason("--replace-task", replace_task)
    run = target.get_run(run_id)
    existing = target.find_model(run.run_id)
    if existing is not None:
        return existing, None, {}
    decision, serving = promotion.gate(target, settings, run, replace_task)
    model = promotion.register(target, settings, run, decision)
    reports = _write_reports(target, settings, run, decision, serving, model, report_dir)
    model_card.store(target, settings, model)
    return model, decision, reports


def deploy(
    target: Target,
    settings: Settings,
    version: str,
    show: Printer,
    rollback: str | None = None,
    *,
    replace_task: str | None = None,
    override: str | None = None,
) -> DeployResult:
    """Deploy model version ``version`` blue/green, if the gate lets it replace the
    champion now (``promotion.check_deploy``). Each of these is a reason, recorded
    on the version with who gave it (``mlops.audit``): ``rollback`` returns to a
    version that served before without the gate; ``replace_task`` replaces a
    champion of another task; ``override`` deploys past the gate's verdict (in a
    workflow only where the job's environment requires a reviewer). The smoke
    test runs whatever the reason."""
    for flag, reason in (
        ("--rollback", rollback),
        ("--replace-task", replace_task),
        ("--override-gate", override),
    ):
        audit.require_reason(flag, reason)
    if override is not None:
        github.require_reviewers("--override-gate")
    model = resolve_model(target, settings, version, show)
    with _holding_endpoint(target, show):
        decision = promotion.check_deploy(
            target, settings, model, rollback, replace_task=replace_task, override=override
        )
        reasons: dict[str, str] = {}
        if rollback is not None:
            reasons[ROLLBACK_TAG] = rollback
        if decision is not None:
            verdict = "PROMOTE" if decision.promote else "REJECT, overridden (--override-gate)"
            show(f"gate: {verdict} {model.ref} (against {decision.against})")
            if decision.task_replaced:
                reasons[REPLACED_TAG] = replace_task or ""
            if override is not None:
                reasons[audit.OVERRIDE_TAG] = override
        log_dir = report_folder(settings, model.run_id or model.version)
        result = blue_green.deploy(target, settings, model, show, log_dir, audit=reasons)
    _save_sample(settings, result)
    return replace(result, decision=decision)


def resolve_model(target: Target, settings: Settings, version: str, show: Printer) -> ModelVersion:
    """Version ``version`` of this environment, or, for ``registry:NAME:VERSION``, this
    environment's own version of that registry version (taken in on first use)."""
    if not version.startswith(REGISTRY_PREFIX):
        return target.get_model(version)
    name, _, number = version.removeprefix(REGISTRY_PREFIX).rpartition(":")
    if name != settings.model.name or not number:
        raise LifecycleError(
            f"{version}: expected {REGISTRY_PREFIX}{settings.model.name}:VERSION "
            "(the registry holds versions of model.name)"
        )
    promoted = target.get_registry_model(number)
    model = target.adopt_model(promoted)
    if model.new:
        show(f"registry version {promoted.ref} taken in as {model.ref}")
    return model


def promote(
    target: Target, settings: Settings, version: str, show: Printer | None = None
) -> ModelVersion:
    """Copy model version ``version``, which the gate promoted, into the registry the
    environments share, with its lineage, where it came from, its gate report, its
    model card and its monitor baseline (so that the environments it goes to can
    show and monitor it); return the registry version. A rejected version is
    refused; one whose baseline is unknown here goes without it, which ``show``
    says."""
    model = target.get_model(version)
    verdict = model.tags.get(GATE_TAG)
    if verdict != PROMOTE:
        raise RejectedByGate(
            f"model {model.ref} was not promoted by the gate (verdict: {verdict or 'none'}); "
            "only a version that passed the gate goes to the registry"
        )
    if not model.digest:
        raise LifecycleError(f"model {model.ref} has no {DIGEST_TAG} tag: its files are unknown")
    sample = blue_green.smoke_cases(target, settings, model).body()
    local_only = (DEPLOYED_TAG, ROLLBACK_TAG, ADOPTED_TAG)
    report = report_folder(settings, model.run_id or model.version) / "gate.md"
    tags = {
        **{k: v for k, v in model.tags.items() if k not in local_only},
        SOURCE_TAG: target.workspace(),
        SOURCE_VERSION_TAG: model.ref,
        GATE_REPORT_TAG: str(report),
    }
    with tempfile.TemporaryDirectory(prefix="mlops-promoted-with-") as scratch:
        folder = Path(scratch)
        try:
            if get_kind(model_kind(model, settings.kind)).family.monitored:
                baseline_of(target, settings, model).write(folder)
        except UserError as problem:
            (show or _quiet)(f"note: promoted without a monitor baseline: {problem}")
        model_card.write(folder, model_card.build(target, settings, model))
        promoted = target.promote_model(model, tags, sample, folder)
    if promoted.new:
        audit_trail.record(
            target, settings, "promote", model.ref, f"gate: {verdict}",
            registry=f"{REGISTRY_PREFIX}{promoted.ref}",
        )  # fmt: skip
        model_card.store(target, settings, model)
    return promoted


def _quiet(line: str) -> None:
    pass


def start_endpoint(target: Target, settings: Settings, show: Printer) -> None:
    """Start again whatever of the endpoint has stopped (after a reboot)."""
    if target.get_endpoint() is None:
        last = promotion.last_deployed(target.list_models())
        again = f"`mlops deploy {last.version}`" if last else "`mlops run`"
        raise LifecycleError(
            f"endpoint {settings.endpoint.name} does not exist; deploy a model with {again}"
        )
    with _holding_endpoint(target, show):
        pass


def stop_endpoint(target: Target, settings: Settings, show: Printer) -> None:
    """Stop and remove the endpoint, waiting for any deploy in progress to end; the
    audit trail records what served until then."""
    with target.endpoint_lock(show):
        try:
            endpoint = target.get_endpoint()
        except UserError:  # a state that cannot be read: the endpoint stops all the same
            stopped = ("unknown (the endpoint's state was unreadable)", None)
        else:
            serving = endpoint.serving() if endpoint is not None else None
            stopped = (serving.model, serving.name) if serving else None
            if endpoint is not None and serving is None:
                stopped = ("-", None)  # an endpoint that served nothing
        target.delete_endpoint()
        if stopped is not None:
            version, deployment = stopped
            audit_trail.record(
                target, settings, "stop", version, "mlops endpoint stop", deployment=deployment
            )


@contextlib.contextmanager
def _holding_endpoint(target: Target, show: Printer) -> Iterator[None]:
    # Every command that changes the endpoint first waits for the lock, then
    # brings the endpoint back to a known state: whatever stopped (a reboot) is
    # started again, and what an interrupted deploy left behind is removed.
    with target.endpoint_lock(show):
        target.resume_endpoint(show)
        yield


def sample_request(settings: Settings) -> Path:
    """The file holding a scoring request of two test rows for ``endpoint.name``,
    written by every deploy to it."""
    return settings.state_folder() / SAMPLE_REQUESTS / f"{settings.endpoint.name}.json"


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
    write_file(path, result.sample)


def serving_trained_on_current_data(
    target: Target, settings: Settings, show: Printer
) -> tuple[DataAsset, ModelVersion | None]:
    """Register the data ``data.path`` holds now; return that version and the model
    serving (the champion) when it was trained on exactly that version."""
    asset = register_data(target, settings)
    show(describe_asset(asset))
    current = promotion.champion(target)
    if current is None:
        return asset, None
    model = target.get_model(current.version)
    return asset, (model if model.tags.get(DATA_TAG) == asset.ref else None)


def run(
    target: Target,
    settings: Settings,
    show: Printer,
    asset: DataAsset | None = None,
    force_rerun: bool = False,
    replace_task: str | None = None,
    drift: list[DriftReport] | None = None,
) -> Outcome:
    """The main job: register the data (unless ``asset``, just registered, is given),
    train on exactly that version (``force_rerun``: reusing no step), then gate
    against the champion, register, and deploy if promoted. It ends with the
    endpoint serving: when the candidate is rejected and nothing serves (the
    endpoint was stopped or lost), the champion is deployed again.
    ``replace_task`` is the reason to replace a champion of another task,
    recorded on the version deployed in its place. ``drift``, the breached monitor
    reports that started this run, is recorded on the version (``trigger_tags``)
    and attached to the training run under ``drift/<environment>/``."""
    audit.require_reason("--replace-task", replace_task)
    if asset is None:
        asset = register_data(target, settings)
        show(describe_asset(asset))
    trained = train(target, settings, show, data_version=asset.version, force_rerun=force_rerun)
    if trained.status != "Completed":
        return Outcome(asset, trained)
    # Held from the gate to the end of the deploy: the champion cannot change
    # between the comparison and the swap.
    with _holding_endpoint(target, show):
        decision, serving = promotion.gate(target, settings, trained, replace_task)
        why = trigger_tags(drift) if drift else {}
        model = promotion.register(target, settings, trained, decision, why)
        show(f"model {model.ref} registered; gate: {decision.verdict}")
        for report in drift or ():
            target.log_files(trained, report.folder, f"drift/{report.environment or 'local'}")
        if drift:
            show(f"trigger: drift ({why[TRIGGER_REPORT_TAG]})")
            audit_trail.record(
                target, settings, "retrain", model.ref,
                f"drift: {why[TRIGGER_REPORT_TAG]}; gate: {decision.verdict}",
            )  # fmt: skip
        # The reports (matplotlib) are drawn while the new deployment starts.
        with ThreadPoolExecutor(max_workers=1) as pool:
            reports = pool.submit(
                _write_reports, target, settings, trained, decision, serving, model, None
            )
            deployed = None
            if decision.promote:
                log_dir = report_folder(settings, trained.run_id)
                reasons = {REPLACED_TAG: replace_task or ""} if decision.task_replaced else {}
                deployed = blue_green.deploy(target, settings, model, show, log_dir, reasons)
            elif serving is not None and serving.note and serving.problem is None:
                show(f"nothing serves: deploying champion {serving.version} again")
                champion = target.get_model(serving.version)
                log_dir = report_folder(settings, champion.run_id or champion.version)
                deployed = blue_green.deploy(target, settings, champion, show, log_dir)
            if deployed is not None:
                _save_sample(settings, deployed)
            written = reports.result()
        if deployed is None or deployed.model != model.ref:
            model_card.store(target, settings, model)  # a deploy of it stored it already
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
    folder = folder or report_folder(settings, run.run_id)
    report = GateReport(
        decision=decision,
        run_id=run.run_id,
        data_asset=run.data_asset,
        candidate_metrics=run.metrics,
        champion=serving,
        endpoint=settings.endpoint.name,
        kind=settings.kind,
        model=model.ref if model else None,
        candidate_curves=promotion.evaluated(target, run, METRICS_OUTPUT, CURVES_FILE),
        candidate_explanations=promotion.evaluated(
            target, run, EXPLANATIONS_OUTPUT, EXPLANATIONS_FILE
        ),
    )
    if not decision.task_changed:  # another task's measure something else
        report = replace(
            report,
            champion_curves=_champion_written(target, serving, METRICS_OUTPUT, CURVES_FILE),
            champion_explanations=_champion_written(
                target, serving, EXPLANATIONS_OUTPUT, EXPLANATIONS_FILE
            ),
        )
    written = write_gate_report(folder, report)
    target.log_files(run, folder, "gate")
    return written


def _champion_written(
    target: Target, serving: Champion | None, output: str, name: str
) -> dict | None:
    """``promotion.evaluated`` of the run that trained the champion, where this
    environment holds it."""
    if serving is None or serving.metrics is None:
        return None
    try:
        run_id = target.get_model(serving.version).run_id
    except LookupError:
        return None
    return promotion.evaluated_by(target, run_id, output, name)
