"""The metrics the evaluate step writes, from its catalogue (``pipeline.metrics``).

The catalogue of the model's kind (``pipelines/src/metrics/<kind>.json``
beside the model code, unless ``pipeline.metrics`` names another) is the one
list of metric names: the evaluate step fails if it computes anything else, and the gate's
rules are checked against it before any work starts, so a rule on a metric
that will never exist, or read the wrong way round, stops ``mlops`` at once
instead of after training. The file maps each name to
``{"better": "higher" | "lower" | null, "description": ...}``; ``null`` marks
a count that no rule may judge. ``"needs": "groups"`` marks a metric written
only when ``data.sensitive_column`` names a group column.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops.settings import GateSettings, Settings, SettingsError


def load_catalog(path: Path) -> dict[str, str | None]:
    """Metric name -> the way it improves (``None`` for a count), in file order.
    Raises ``SettingsError`` naming the file when it is missing or malformed."""
    return {name: better for name, (better, _) in _read(path).items()}


def counts(settings: Settings) -> set[str]:
    """The metrics of the catalogue ``settings`` name that are counts (``better: null``);
    none when the catalogue cannot be read (the verbs that need it say why)."""
    try:
        catalog = load_catalog(settings.resolve(settings.pipeline.metrics))
    except SettingsError:
        return set()
    return {name for name, better in catalog.items() if better is None}


def group_metrics(path: Path) -> set[str]:
    """The metrics written only when there is a sensitive column (``"needs": "groups"``)."""
    return {name for name, (_, needs) in _read(path).items() if needs == "groups"}


def _read(path: Path) -> dict[str, tuple[str | None, str | None]]:
    where = f"{path} (pipeline.metrics)"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{where}: file not found; point pipeline.metrics at it") from None
    except (OSError, ValueError) as error:
        raise SettingsError(f"{where}: not a readable JSON file: {error}") from None
    if not isinstance(raw, dict) or not raw:
        raise SettingsError(f"{where}: expected an object of metric name -> description")
    catalog = {}
    for name, entry in raw.items():
        better = entry.get("better") if isinstance(entry, dict) else "?"
        if better not in ("higher", "lower", None):
            raise SettingsError(f'{where}: {name}: "better" must be "higher", "lower" or null')
        needs = entry.get("needs") if isinstance(entry, dict) else None
        if needs not in ("groups", None):
            raise SettingsError(f'{where}: {name}: "needs" must be "groups" or absent')
        catalog[name] = (better, needs)
    return catalog


def check_gate_rules(
    gate: GateSettings, catalog: dict[str, str | None], source: Path, kind: str | None = None
) -> None:
    """Raise ``SettingsError`` naming the key of the first rule that judges a metric
    the catalogue (of a model of ``kind``) does not list, a count, or a metric in
    the wrong direction."""
    whose = f"of a {kind} model " if kind else ""
    for key, rule in gate.rules():
        if rule.metric not in catalog:
            raise SettingsError(
                f"{source}: {key}.metric: the evaluate step {whose}writes no metric "
                f"{rule.metric!r} (it writes: {', '.join(catalog)})"
            )
        better = catalog[rule.metric]
        if better is None:
            raise SettingsError(
                f"{source}: {key}.metric: {rule.metric} is a count, not a measure of quality; "
                "no rule can judge it"
            )
        if rule.better != better:
            raise SettingsError(
                f"{source}: {key}.better: {rule.metric} improves when {better}, "
                f"not {rule.better} (see pipeline.metrics)"
            )


def check_settings(settings: Settings) -> None:
    """Check the gate of ``settings`` against the catalogue its pipeline names,
    and that no rule judges a fairness metric when there is no sensitive column."""
    path = settings.resolve(settings.pipeline.metrics)
    check_gate_rules(settings.gate, load_catalog(path), settings.source, settings.kind)
    if settings.data.sensitive_column is None:
        needing = group_metrics(path)
        for key, rule in settings.gate.rules():
            if rule.metric in needing:
                raise SettingsError(
                    f"{settings.source}: {key}.metric: {rule.metric} is measured between the "
                    "groups of data.sensitive_column, which is not set; set "
                    "data.sensitive_column or remove the rule"
                )
