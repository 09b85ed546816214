"""Who the champion is, gating a candidate against it, and registering the candidate.

The champion is the model actually serving on ``endpoint.name`` (the
deployment taking the most traffic), identified by its reference *and* the
digest of the files it serves, never by a version number alone. When nothing
serves (the endpoint was stopped, lost, or its state is unreadable), the
champion is the version most recently deployed, as the registry records it
(``DEPLOYED_TAG``); only a registry that never had a deployed version has no
champion, and only then does a first model need no improvement.

Every candidate is registered, promoted or not, with its lineage, its task
(``mlops.task``) and the gate's verdict as tags. ``mlops deploy`` gates a
registered version again against the champion of the moment
(``check_deploy``), unless it restores the champion itself, is an explicit
rollback to a version that served before, or overrides the gate with a
reason (``mlops.audit``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from mlops.errors import GateRejected, UserError
from mlops.gate import Champion, Decision, decide
from mlops.kinds import get_kind
from mlops.lineage import git_state, metrics_from_tags, model_digest, model_tags
from mlops.runs import EXPLANATIONS_FILE, EXPLANATIONS_OUTPUT, METRICS_OUTPUT, MODEL_OUTPUT
from mlops.settings import Settings
from mlops.targets.base import (
    DeploymentError,
    ModelNotFound,
    ModelVersion,
    PipelineRun,
    Target,
)
from mlops.task import Task, change, task_from_tags, task_of_model_folder, task_tags


class PromotionError(UserError):
    """A run cannot be gated or registered, or a version not deployed; the message says why."""


class NotBetterThanChampion(PromotionError, GateRejected):
    """The model does not pass the gate against the champion of the moment."""


def champion(target: Target) -> Champion | None:
    """The model a candidate must beat, with its metrics; None only when no version of
    ``model.name`` was ever deployed. See the module docstring."""
    settings = target.settings
    try:
        endpoint = target.get_endpoint()
        why = f"endpoint {settings.endpoint.name} does not exist"
    except DeploymentError as error:
        endpoint = None
        why = f"the state of endpoint {settings.endpoint.name} is unreadable: {error}"
    serving = endpoint.serving() if endpoint else None
    if serving is not None:
        return _serving_champion(target, serving.model, serving.model_digest)
    if endpoint is not None:
        why = f"no deployment takes traffic on endpoint {settings.endpoint.name}"
    last = last_deployed(target.list_models())
    if last is None:
        return None
    note = f"the version deployed last ({last.deployed_at}); nothing serves now: {why}"
    return _with_metrics(target, last, note)


def last_deployed(models: list[ModelVersion]) -> ModelVersion | None:
    """The version that most recently took all of the endpoint's traffic, if any ever did."""
    deployed = [m for m in models if m.deployed_at]
    return max(deployed, key=lambda m: m.deployed_at, default=None)


def _serving_champion(target: Target, ref: str, digest: str | None) -> Champion:
    name, _, version = ref.rpartition(":")
    if name != target.settings.model.name:
        return Champion(ref, None, f"it is not a version of {target.settings.model.name}")
    try:
        model = target.get_model(version)
    except ModelNotFound:
        return Champion(version, None, "the registry has no such version (was it reset?)")
    if digest and model.digest and digest != model.digest:
        return Champion(
            version,
            None,
            f"registry version {version} is not the model serving: their files differ "
            "(was the registry reset or replaced?)",
        )
    return _with_metrics(target, model)


def _with_metrics(target: Target, model: ModelVersion, note: str | None = None) -> Champion:
    task = model_task(target, model)
    try:
        metrics = metrics_from_tags(model.tags)
    except ValueError as error:
        return Champion(model.version, None, str(error), note, task)
    if not metrics:
        return Champion(model.version, None, "its registry entry records no metrics", note, task)
    return Champion(model.version, metrics, None, note, task)


def run_task(target: Target, run: PipelineRun) -> Task | None:
    """What ``run``'s model predicts, from its data contract; None when unknown."""
    try:
        return task_of_model_folder(target.output_path(run, MODEL_OUTPUT))
    except (LookupError, OSError, UserError):
        return None


def model_task(target: Target, model: ModelVersion) -> Task | None:
    """What ``model`` predicts: its tags, or, for a version registered before tasks
    were recorded, its run's data contract; None when neither tells."""
    task = task_from_tags(model.tags)
    if task is not None or not model.run_id:
        return task
    try:
        return run_task(target, target.get_run(model.run_id))
    except (LookupError, OSError, UserError):
        return None


SIGNAL_FILE = "feature_signal.json"  # beside metrics.json: each feature's own AUC (or R²)


def evaluated(target: Target, run: PipelineRun, output: str, name: str):
    """The JSON file ``name`` the evaluate step of ``run`` wrote in its output
    ``output``; None for a run from before it was written (or unreadable)."""
    try:
        return json.loads((target.output_path(run, output) / name).read_text())
    except (LookupError, OSError, UserError, ValueError):
        return None


def evaluated_by(target: Target, run_id: str | None, output: str, name: str):
    """``evaluated`` of run ``run_id``, where this environment holds it."""
    if not run_id:
        return None
    try:
        return evaluated(target, target.get_run(run_id), output, name)
    except (LookupError, UserError):
        return None


def feature_signal(target: Target, run_id: str | None) -> dict[str, dict[str, float]]:
    """By metric (``auc``, ``r2``), each feature's own value of it on run ``run_id``'s
    test split, best first, as the evaluate step measured it; empty for a run from
    before it did (or none)."""
    raw = evaluated_by(target, run_id, METRICS_OUTPUT, SIGNAL_FILE)
    try:
        return {
            str(metric): {str(name): float(value) for name, value in values.items()}
            for metric, values in (raw or {}).items()
        }
    except (ValueError, TypeError, AttributeError):
        return {}


def feature_ranking(target: Target, run_id: str | None) -> tuple[str, ...] | None:
    """Run ``run_id``'s model's features, the most important first (its evaluate
    step's ``explanations.json``); None when unknown."""
    raw = evaluated_by(target, run_id, EXPLANATIONS_OUTPUT, EXPLANATIONS_FILE)
    try:
        return tuple(str(entry["feature"]) for entry in raw["features"])
    except (TypeError, KeyError):
        return None


def _task_change(candidate: Task | None, current: Champion | None) -> str | None:
    if candidate is None or current is None or current.task is None:
        return None  # nothing to compare: judged on metrics, as before tasks were recorded
    return change(candidate, current.task, current.version)


def gate(
    target: Target, settings: Settings, run: PipelineRun, replace_task: str | None = None
) -> tuple[Decision, Champion | None]:
    """Decide whether ``run``'s model should replace the champion; ``replace_task``
    is the reason given to replace a champion of another task."""
    if run.status != "Completed":
        raise PromotionError(f"run {run.run_id} did not complete ({run.status}); nothing to gate")
    serving = champion(target)
    decision = _decide(
        target, settings, run.metrics, serving, run_task(target, run), run.run_id, replace_task
    )
    return decision, serving


def _decide(
    target: Target,
    settings: Settings,
    metrics: Mapping[str, float],
    current: Champion | None,
    task: Task | None,
    run_id: str | None,
    replace_task: str | None,
) -> Decision:
    """The gate on ``metrics`` of a model of ``task`` trained by run ``run_id``."""
    rankings = {}
    if settings.gate.explanations:  # read only where a rule needs them
        theirs = None
        if current is not None:
            try:
                theirs = feature_ranking(target, target.get_model(current.version).run_id)
            except LookupError:
                theirs = None
        rankings = {"ranking": feature_ranking(target, run_id), "champion_ranking": theirs}
    return decide(
        metrics,
        current,
        settings.gate,
        # Examples have no columns, so no group column to miss: no note that one is.
        groups=settings.data.sensitive_column is not None
        or not get_kind(settings.kind).family.labelled,
        task_change=_task_change(task, current),
        replace_task=replace_task,
        signal=feature_signal(target, run_id),
        **rankings,
    )


def register(
    target: Target,
    settings: Settings,
    run: PipelineRun,
    decision: Decision,
    why: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register ``run``'s model with its lineage, ``decision`` and ``why`` (the
    tags of what started the run, if anything did), once per run."""
    existing = target.find_model(run.run_id)
    if existing is not None:
        return existing
    commit, dirty = git_state(settings.root)
    tags = model_tags(
        commit=commit,
        dirty=dirty,
        data_asset=run.data_asset,
        run_id=run.run_id,
        digest=model_digest(target.output_path(run, MODEL_OUTPUT)),
        metrics=run.metrics,
        decision=decision,
    )
    task = run_task(target, run)
    if task is not None:
        tags.update(task_tags(task))
    tags.update(why or {})
    return target.register_model(run, tags)


def check_deploy(
    target: Target,
    settings: Settings,
    model: ModelVersion,
    rollback: str | None = None,
    *,
    replace_task: str | None = None,
    override: str | None = None,
) -> Decision | None:
    """Allow deploying ``model`` now, or raise ``PromotionError`` saying why not.

    A model already serving, or the champion itself when nothing serves, is
    allowed as it is (None). An explicit rollback (``rollback`` holds the
    reason) is allowed to a version that served before. Any other version must
    pass the gate against the champion of the moment (``replace_task``: the
    reason to replace a champion of another task), or be deployed past it with
    a reason (``override``); the decision is returned. Reasons are checked
    (``audit.require_reason``) by the caller."""
    current = champion(target)
    if current is not None and current.version == model.version and current.problem is None:
        return None
    if rollback is not None:
        if not model.deployed_at:
            raise PromotionError(
                f"model {model.ref} never served on endpoint {settings.endpoint.name}: a "
                "rollback only returns to a version that served before; deploy it without "
                "--rollback to gate it"
            )
        return None
    try:
        metrics = metrics_from_tags(model.tags)
    except ValueError as error:
        raise PromotionError(f"model {model.ref}: {error}") from None
    task = model_task(target, model)
    decision = _decide(target, settings, metrics, current, task, model.run_id, replace_task)
    if not decision.promote and override is None:
        reasons = "; ".join(check.reason for check in decision.failed())
        if model.deployed_at:
            hint = "; to return to it anyway, pass --rollback REASON"
        elif not decision.task_changed:
            hint = "; to replace the champion with it anyway, pass --override-gate REASON"
        else:
            hint = ""
        raise NotBetterThanChampion(
            f"model {model.ref} does not pass the gate against {decision.against}: {reasons}{hint}"
        )
    return decision
