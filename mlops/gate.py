"""The promotion gate: should a candidate model replace the one serving?

``decide(candidate, champion, rules)`` is a pure function (no I/O). It checks
every rule of the settings' ``gate`` section and returns a ``Decision`` with
one ``Check`` per rule, each with its reason. The candidate is promoted only
when every check passes. It fails closed: a metric that is missing, NaN or
infinite fails its rule, a champion whose metrics cannot be read fails the
improvement rule, and a gate without rules promotes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from mlops.settings import GateSettings, ImprovementRule, ThresholdRule

PROMOTE = "promote"
REJECT = "reject"


@dataclass(frozen=True)
class Champion:
    """The model a candidate must beat: its version and its evaluation metrics, or
    the reason its metrics could not be read (``metrics`` is then None).

    It is the model serving on the endpoint; when nothing serves, the version
    most recently deployed, and ``note`` says so."""

    version: str
    metrics: Mapping[str, float] | None
    problem: str | None = None
    note: str | None = None  # set when the champion is not the model serving now


@dataclass(frozen=True)
class Check:
    kind: str  # "threshold", "fairness" or "improvement"
    metric: str
    better: str  # "higher" or "lower"
    candidate: float | None
    champion: float | None
    threshold: str  # the bound, as text: ">= 0.7", "<= 0.1", ">= champion + 0.001"
    passed: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    promote: bool
    checks: tuple[Check, ...]
    champion_version: str | None
    champion_note: str | None = None
    # What the gate could not judge, in words ("no sensitive column: ...").
    notes: tuple[str, ...] = ()

    @property
    def against(self) -> str:
        """Whom the candidate was judged against, in words."""
        if self.champion_version is None:
            return "no champion: no version was ever deployed"
        note = f"; {self.champion_note}" if self.champion_note else ""
        return f"champion {self.champion_version}{note}"

    @property
    def verdict(self) -> str:
        return PROMOTE if self.promote else REJECT

    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "champion_version": self.champion_version,
            "champion_note": self.champion_note,
            "notes": list(self.notes),
            "checks": [asdict(check) for check in self.checks],
        }


NO_GROUPS = "no sensitive column: fairness not measured"


def decide(
    candidate: Mapping[str, float],
    champion: Champion | None,
    rules: GateSettings,
    *,
    groups: bool = True,
) -> Decision:
    """Check ``candidate``'s metrics against ``rules`` and, for the improvement
    rule, against ``champion`` (None when no model is serving). Without
    ``groups`` (no sensitive column) the decision notes that fairness was not
    measured."""
    shown = champion.metrics if champion and champion.metrics else {}
    checks = [_threshold(rule, "threshold", candidate, shown) for rule in rules.thresholds]
    checks += [_threshold(rule, "fairness", candidate, shown) for rule in rules.fairness]
    if rules.improvement is not None:
        checks.append(_improvement(rules.improvement, candidate, champion))
    if not checks:
        checks.append(
            Check(
                "threshold",
                "-",
                "-",
                None,
                None,
                "-",
                False,
                "the gate has no rules; add "
                "thresholds or an improvement rule to the gate section of the settings",
            )
        )
    return Decision(
        promote=all(check.passed for check in checks),
        checks=tuple(checks),
        champion_version=champion.version if champion else None,
        champion_note=champion.note if champion else None,
        notes=() if groups else (NO_GROUPS,),
    )


def _threshold(
    rule: ThresholdRule, kind: str, candidate: Mapping[str, float], champion: Mapping[str, float]
) -> Check:
    # The champion's value is shown for comparison; a threshold judges the candidate alone.
    theirs, _ = _read(champion, rule.metric, "the champion")
    value, problem = _read(candidate, rule.metric, "the candidate")
    bound = f">= {rule.min:g}" if rule.min is not None else f"<= {rule.max:g}"
    if problem:
        return Check(kind, rule.metric, rule.better, value, theirs, bound, False, problem)
    passed = value >= rule.min if rule.min is not None else value <= rule.max
    verb = "meets" if passed else "fails"
    reason = f"{rule.metric} {value:.4f} {verb} {bound}"
    return Check(kind, rule.metric, rule.better, value, theirs, bound, passed, reason)


def _improvement(
    rule: ImprovementRule, candidate: Mapping[str, float], champion: Champion | None
) -> Check:
    sign = "+" if rule.better == "higher" else "-"
    op = ">=" if rule.better == "higher" else "<="
    amount = f"{rule.min_delta:.1%}" if rule.relative else f"{rule.min_delta:g}"
    bound = f"{op} champion {sign} {amount}"

    def check(cand: float | None, champ: float | None, passed: bool, reason: str) -> Check:
        return Check("improvement", rule.metric, rule.better, cand, champ, bound, passed, reason)

    value, problem = _read(candidate, rule.metric, "the candidate")
    if problem:
        return check(value, None, False, problem)
    if champion is None:
        first = "no version was ever deployed: the first model needs no improvement"
        return check(value, None, True, first)
    if champion.metrics is None:
        why = champion.problem or "no metrics recorded"
        return check(value, None, False, f"champion {champion.version}: metrics unreadable ({why})")
    best, problem = _read(champion.metrics, rule.metric, f"champion {champion.version}")
    if problem:
        return check(value, best, False, problem)
    delta = rule.min_delta * abs(best) if rule.relative else rule.min_delta
    required = best + delta if rule.better == "higher" else best - delta
    passed = value >= required if rule.better == "higher" else value <= required
    change = value - best
    if passed:
        reason = (
            f"{rule.metric} {value:.4f} vs champion {best:.4f} ({change:+.4f}) {op} {required:.4f}"
        )
    else:
        reason = (
            f"{rule.metric} {value:.4f} vs champion {best:.4f} ({change:+.4f}): "
            f"not {rule.better} by {amount} (needs {op} {required:.4f})"
        )
    return check(value, best, passed, reason)


def _read(metrics: Mapping[str, float], name: str, whose: str) -> tuple[float | None, str | None]:
    if name not in metrics:
        return None, f"{name} is missing from {whose}'s metrics"
    try:
        value = float(metrics[name])
    except (TypeError, ValueError):
        return None, f"{name} of {whose} is not a number"
    if not math.isfinite(value):
        return value, f"{name} of {whose} is {value} (not a finite number)"
    return value, None
