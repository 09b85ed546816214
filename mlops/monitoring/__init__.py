"""Monitoring: what a serving deployment collected, read and measured against its
model's training data."""

from mlops.errors import UserError
from mlops.kinds import get_kind


class NotMonitored(UserError):
    """The model's kind has no columns for the monitor to measure."""


def require_monitored(settings) -> None:
    """Raise ``NotMonitored`` unless a model of ``settings``' kind is monitored
    (its family's data are columns the monitor can hold against a baseline)."""
    if not get_kind(settings.kind).family.monitored:
        raise NotMonitored(
            f"{settings.source}: model {settings.model_id} is a {settings.kind} model: its "
            "requests are prompts, not columns, so `mlops monitor` has nothing to measure "
            "against its training data; judge it with its gate's metrics on new examples "
            "(`mlops run`)"
        )
