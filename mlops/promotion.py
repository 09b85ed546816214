"""Gate a trained run against the model serving on the endpoint, and register it.

The champion is the model actually serving (the deployment taking the most
traffic on ``endpoint.name``), not the best version in the registry. Every
candidate is registered, promoted or not, with its lineage and the gate's
verdict as tags; only a promoted version can be deployed.
"""

from __future__ import annotations

from mlops.errors import UserError
from mlops.gate import PROMOTE, Champion, Decision, decide
from mlops.lineage import git_state, metrics_from_tags, model_tags
from mlops.settings import Settings
from mlops.targets.base import DeploymentError, ModelNotFound, ModelVersion, PipelineRun, Target


class PromotionError(UserError):
    """A run cannot be gated or registered; the message says why."""


def champion(target: Target) -> Champion | None:
    """The model serving on the endpoint with its metrics, or None when nothing serves."""
    try:
        endpoint = target.get_endpoint()
    except DeploymentError as error:
        return Champion("unknown", None, str(error))
    serving = endpoint.serving() if endpoint else None
    if serving is None:
        return None
    name, _, version = serving.model.rpartition(":")
    if name != target.settings.model.name:
        return Champion(serving.model, None, f"it is not a version of {target.settings.model.name}")
    try:
        metrics = metrics_from_tags(target.get_model(version).tags)
    except (ModelNotFound, ValueError) as error:
        return Champion(version, None, str(error))
    if not metrics:
        return Champion(version, None, "its registry entry records no metrics")
    return Champion(version, metrics)


def gate(target: Target, settings: Settings, run: PipelineRun) -> tuple[Decision, Champion | None]:
    """Decide whether ``run``'s model should replace the serving one."""
    if run.status != "Completed":
        raise PromotionError(f"run {run.run_id} did not complete ({run.status}); nothing to gate")
    serving = champion(target)
    return decide(run.metrics, serving, settings.gate), serving


def register(
    target: Target, settings: Settings, run: PipelineRun, decision: Decision
) -> ModelVersion:
    """Register ``run``'s model with its lineage and ``decision`` (once per run)."""
    commit, dirty = git_state(settings.root)
    tags = model_tags(
        commit=commit,
        dirty=dirty,
        data_asset=run.data_asset,
        run_id=run.run_id,
        metrics=run.metrics,
        decision=decision,
    )
    return target.register_model(run, tags)


def require_promoted(model: ModelVersion) -> None:
    """Raise ``PromotionError`` unless the gate promoted ``model`` when it was registered."""
    verdict = model.tags.get("mlops.gate")
    if verdict != PROMOTE:
        failed = model.tags.get("mlops.gate_failed", "unknown")
        raise PromotionError(
            f"model {model.ref} was not promoted by the gate ({verdict or 'no verdict'}; "
            f"failed: {failed}); only a promoted model can be deployed"
        )
