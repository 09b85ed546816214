"""The target's own monitor on a schedule (Azure ML's ``MonitorSchedule``), kept on
the deployment that serves: ``mlops monitor enable`` creates or updates it, and
while ``monitor.schedule.enabled`` every deploy and rollback re-points it at
the deployment that took the traffic (blue/green changes the deployment)."""

from __future__ import annotations

from collections.abc import Callable

from mlops.errors import UserError
from mlops.kinds import get_kind
from mlops.monitoring.monitor import serving_model
from mlops.monitoring.training_data import baseline_of
from mlops.settings import Settings
from mlops.task import model_kind


def point_schedule(target, settings: Settings, show: Callable[[str], None]) -> str:
    """Create or update the target's monitor schedule on the serving deployment,
    with the model's monitor settings and its version's baselines; its name.
    Raises ``UserError`` where nothing serves or the target has no schedules."""
    if not target.monitoring.schedules:
        raise UserError(
            f"the {target.name} target runs no monitor of its own: run `mlops monitor` "
            "(monitor.yml runs it daily in every environment)"
        )
    serving, model = serving_model(target, settings, "deploy a model first")
    baseline = baseline_of(target, settings, model)
    prediction = get_kind(model_kind(model, settings.kind)).prediction_type
    return target.monitoring.point_schedule(serving.name, model, baseline, prediction, show)


def repoint_after_deploy(target, settings: Settings, show: Callable[[str], None]) -> None:
    """After a deploy moved the traffic: the schedule follows, when it is on. A
    schedule that cannot follow is said, with the command that retries it; the
    deploy stands."""
    if not (settings.monitor.schedule.enabled and target.monitoring.schedules):
        return
    try:
        point_schedule(target, settings, show)
    except UserError as problem:
        show(f"warning: the monitor schedule was not re-pointed: {problem}; "
             "fix that, then run `mlops monitor enable`")  # fmt: skip
