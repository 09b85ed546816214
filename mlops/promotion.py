"""Who the champion is, gating a candidate against it, and registering the candidate.

The champion is the model actually serving on ``endpoint.name`` (the
deployment taking the most traffic), identified by its reference *and* the
digest of the files it serves, never by a version number alone. When nothing
serves (the endpoint was stopped, lost, or its state is unreadable), the
champion is the version most recently deployed, as the registry records it
(``DEPLOYED_TAG``); only a registry that never had a deployed version has no
champion, and only then does a first model need no improvement.

Every candidate is registered, promoted or not, with its lineage and the
gate's verdict as tags. ``mlops deploy`` gates a registered version again
against the champion of the moment (``check_deploy``), unless it restores
the champion itself or is an explicit rollback to a version that served
before.
"""

from __future__ import annotations

from mlops.errors import GateRejected, UserError
from mlops.gate import Champion, Decision, decide
from mlops.lineage import git_state, metrics_from_tags, model_digest, model_tags
from mlops.runs import MODEL_OUTPUT
from mlops.settings import Settings
from mlops.targets.base import (
    DeploymentError,
    ModelNotFound,
    ModelVersion,
    PipelineRun,
    Target,
)


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
    return _with_metrics(last, note)


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
    return _with_metrics(model)


def _with_metrics(model: ModelVersion, note: str | None = None) -> Champion:
    try:
        metrics = metrics_from_tags(model.tags)
    except ValueError as error:
        return Champion(model.version, None, str(error), note)
    if not metrics:
        return Champion(model.version, None, "its registry entry records no metrics", note)
    return Champion(model.version, metrics, None, note)


def gate(target: Target, settings: Settings, run: PipelineRun) -> tuple[Decision, Champion | None]:
    """Decide whether ``run``'s model should replace the champion."""
    if run.status != "Completed":
        raise PromotionError(f"run {run.run_id} did not complete ({run.status}); nothing to gate")
    serving = champion(target)
    groups = settings.data.sensitive_column is not None
    return decide(run.metrics, serving, settings.gate, groups=groups), serving


def register(
    target: Target, settings: Settings, run: PipelineRun, decision: Decision
) -> ModelVersion:
    """Register ``run``'s model with its lineage and ``decision`` (once per run)."""
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
    return target.register_model(run, tags)


def check_deploy(
    target: Target, settings: Settings, model: ModelVersion, rollback: str | None
) -> Decision | None:
    """Allow deploying ``model`` now, or raise ``PromotionError`` saying why not.

    A model already serving, or the champion itself when nothing serves, is
    allowed as it is (None). An explicit rollback (``rollback`` holds the
    reason) is allowed to a version that served before. Any other version must
    pass the gate against the champion of the moment; the decision is returned."""
    current = champion(target)
    if current is not None and current.version == model.version and current.problem is None:
        return None
    if rollback is not None:
        if not rollback.strip():
            raise PromotionError("--rollback needs a reason, recorded on the version")
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
    decision = decide(
        metrics, current, settings.gate, groups=settings.data.sensitive_column is not None
    )
    if not decision.promote:
        reasons = "; ".join(check.reason for check in decision.failed())
        hint = "; to return to it anyway, pass --rollback REASON" if model.deployed_at else ""
        raise NotBetterThanChampion(
            f"model {model.ref} does not pass the gate against {decision.against}: {reasons}{hint}"
        )
    return decision
