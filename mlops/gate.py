"""The promotion gate: should a candidate model replace the one serving?

``decide(candidate, champion, rules)`` is a pure function (no I/O). It checks
every rule of the settings' ``gate`` section and returns a ``Decision`` with
one ``Check`` per rule, each with its reason. The candidate is promoted only
when every check passes. It fails closed: a metric that is missing, NaN or
infinite fails its rule, a champion whose metrics cannot be read fails the
improvement rule, and a gate without rules promotes nothing.

Beyond the rules on metrics:

- **Plausibility**: a metric at or beyond its bound (AUC 0.995 by default)
  is too good to be true; the check names the feature that explains it when
  one does on its own (``signal``: each feature's own AUC, from evaluate).
- **Task**: metrics compare two models of one task only (``mlops.task``).
  When the candidate's task differs from the champion's (``task_change``),
  the task check fails with the way out, and no improvement is measured;
  with a reason to replace the task (``replace_task``) it passes, recorded,
  and the candidate is judged as the first model of its task.
- **The champion under today's rules**: a champion that would fail a
  threshold it is shown against is noted ("champion 1 fails auc >= 0.8 under
  today's rules"), so raising a bound is seen to judge what serves too.
- **Explanations** (``gate.explanations``, optional): the features the
  candidate relies on most (``ranking``: by permutation importance, from
  evaluate) must share enough with the champion's (``champion_ranking``) and
  hold none of the forbidden ones. A candidate whose importances are unknown
  fails; a champion whose importances are unknown here (trained before they
  were measured, or in another environment) is not compared, which the
  check says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from mlops.settings import (
    ExplanationRule,
    GateSettings,
    ImprovementRule,
    PlausibilityRule,
    ThresholdRule,
)
from mlops.task import Task, refusal

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
    task: Task | None = None  # what it predicts (None: its version records no task)


@dataclass(frozen=True)
class Check:
    kind: str  # "threshold", "fairness", "plausibility", "explanation", "task" or "improvement"
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

    @property
    def task_replaced(self) -> bool:
        """The candidate replaces a champion of another task, with a reason."""
        return any(check.kind == "task" and check.passed for check in self.checks)

    @property
    def task_changed(self) -> bool:
        """Refused because the candidate solves another task than the champion."""
        return any(check.kind == "task" and not check.passed for check in self.checks)

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "champion_version": self.champion_version,
            "champion_note": self.champion_note,
            "notes": list(self.notes),
            "checks": [asdict(check) for check in self.checks],
        }


NO_GROUPS = "no sensitive column: fairness not measured"
# A feature whose own AUC (or R², for a number) on the test split reaches this
# explains a too-good model.
LEAK_AUC = 0.95


def decide(
    candidate: Mapping[str, float],
    champion: Champion | None,
    rules: GateSettings,
    *,
    groups: bool = True,
    task_change: str | None = None,
    replace_task: str | None = None,
    signal: Mapping[str, Mapping[str, float]] | None = None,
    ranking: Sequence[str] | None = None,
    champion_ranking: Sequence[str] | None = None,
) -> Decision:
    """Check ``candidate``'s metrics against ``rules`` and, for the improvement
    rule, against ``champion`` (None when no model is serving). Without
    ``groups`` (no sensitive column) the decision notes that fairness was not
    measured. ``task_change`` says how the candidate's task differs from the
    champion's (None: the same task); ``replace_task`` is the reason given to
    replace it; ``signal`` maps a metric (``auc``, ``r2``) to each feature's own
    value of it, best first; ``ranking`` and ``champion_ranking`` are the
    candidate's and the champion's features, the most important first (None:
    unknown)."""
    theirs = champion.metrics if champion and champion.metrics else {}
    # Another task's metrics are not shown beside the candidate's: they measure something else.
    shown = {} if task_change else theirs
    checks = [_threshold(rule, "threshold", candidate, shown) for rule in rules.thresholds]
    checks += [_threshold(rule, "fairness", candidate, shown) for rule in rules.fairness]
    signal = signal or {}
    checks += [
        _plausible(rule, candidate, signal.get(rule.metric, {})) for rule in rules.plausibility
    ]
    compared = None if task_change else champion
    checks += [
        _explanation(f"gate.explanations.{index}", rule, ranking, compared, champion_ranking)
        for index, rule in enumerate(rules.explanations)
    ]
    notes = [] if groups else [NO_GROUPS]
    if replace_task is not None and task_change is None:
        notes.append("--replace-task given, but the candidate's task is the champion's: ignored")
    if task_change is not None:
        checks.append(_task(task_change, replace_task, champion))
        if replace_task is not None and rules.improvement is not None:
            checks.append(_first_of_its_task(rules.improvement, candidate, champion))
    else:
        if rules.improvement is not None:
            checks.append(_improvement(rules.improvement, candidate, champion))
        if champion is not None:
            notes += _champion_under_today(rules, champion)
    if not (rules.thresholds or rules.fairness or rules.improvement):  # nothing to promote on
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
        notes=tuple(notes),
    )


def _plausible(
    rule: PlausibilityRule, candidate: Mapping[str, float], signal: Mapping[str, float]
) -> Check:
    value, problem = _read(candidate, rule.metric, "the candidate")
    bound = rule.bound()

    def check(passed: bool, reason: str) -> Check:
        return Check("plausibility", rule.metric, rule.better, value, None, bound, passed, reason)

    if problem:
        return check(False, problem)
    if rule.plausible(value):
        return check(True, f"{rule.metric} {value:.4f} is plausible ({bound})")
    return check(
        False,
        f"{rule.metric} {value:.4f} is too good to be true (gate.plausibility: {bound}): "
        f"{_leak(rule.metric, signal)}",
    )


def _leak(metric: str, signal: Mapping[str, float]) -> str:
    """Which feature explains a too-good model, in words (``signal``: each feature's
    own ``metric``, best first)."""
    if not signal:
        return "a feature may hold the label; look for one known only with the label"
    feature, auc = next(iter(signal.items()))
    if auc >= LEAK_AUC:
        return (
            f"feature {feature!r} alone has {metric} {auc:.4f} on the test split, so it likely "
            "leaks the label; drop it with data.features.exclude, or raise "
            "gate.plausibility if it is truly known before the label"
        )
    return (
        f"no single feature explains it (the best, {feature!r}, alone has {metric} "
        f"{auc:.4f}); "
        "look for a leak in how the rows or the label were made"
    )


def _explanation(
    key: str,
    rule: ExplanationRule,
    ranking: Sequence[str] | None,
    champion: Champion | None,
    champion_ranking: Sequence[str] | None,
) -> Check:
    """The check of ``rule`` (settings key ``key``) on the candidate's top features."""
    parts = []
    if rule.min_overlap is not None:
        parts.append(f">= {rule.min_overlap} shared with champion")
    if rule.forbidden:
        parts.append(f"none of {', '.join(rule.forbidden)}")
    metric = f"top {rule.top} features"

    def check(passed: bool, reason: str) -> Check:
        return Check("explanation", metric, "-", None, None, "; ".join(parts), passed, reason)

    if not ranking:
        return check(
            False,
            f"{key}: the candidate's importances are unknown (its evaluate step wrote no "
            "explanations.json): retrain it with a pipeline that writes them",
        )
    top = list(ranking[: rule.top])
    reasons, passed = [], True
    forbidden = [name for name in top if name in rule.forbidden]
    if forbidden:
        passed = False
        places = ", ".join(f"{name} is number {top.index(name) + 1}" for name in forbidden)
        reasons.append(
            f"{places} of the candidate's top {rule.top} ({key}.forbidden); drop it with "
            "data.features.exclude, or look for what it stands in for"
        )
    elif rule.forbidden:
        reasons.append(f"none of {', '.join(rule.forbidden)} in the top {rule.top}")
    if rule.min_overlap is not None:
        if champion is None:
            reasons.append("no champion to compare the top features with")
        elif not champion_ranking:
            reasons.append(
                f"champion {champion.version}'s importances are unknown here (trained before "
                "they were measured, or in another environment): not compared"
            )
        else:
            theirs = list(champion_ranking[: rule.top])
            shared = [name for name in top if name in theirs]
            enough = len(shared) >= rule.min_overlap
            passed = passed and enough
            new = [name for name in top if name not in theirs]
            gone = [name for name in theirs if name not in top]
            change = f" (new: {', '.join(new)}; left: {', '.join(gone)})" if new else ""
            reasons.append(
                f"the top {rule.top} share {len(shared)} with champion {champion.version}'s"
                + ("" if enough else f", fewer than {rule.min_overlap}")
                + change
            )
    return check(passed, "; ".join(reasons))


def _task(change: str, reason: str | None, champion: Champion | None) -> Check:
    if reason is None:
        return Check("task", "-", "-", None, None, "same task", False, refusal(change))
    who = f"champion {champion.version}" if champion else "the champion"
    replaced = f"task of {who} replaced: {change} ({reason})"
    return Check("task", "-", "-", None, None, "replaced (--replace-task)", True, replaced)


def _first_of_its_task(
    rule: ImprovementRule, candidate: Mapping[str, float], champion: Champion | None
) -> Check:
    value, problem = _read(candidate, rule.metric, "the candidate")
    op = ">=" if rule.better == "higher" else "<="
    reason = problem or (
        f"champion {champion.version if champion else '-'} solves another task: the first "
        "model of this task needs no improvement"
    )
    return Check(
        "improvement", rule.metric, rule.better, value, None, f"{op} champion", not problem, reason
    )


def _champion_under_today(rules: GateSettings, champion: Champion) -> list[str]:
    """The thresholds the champion itself fails under the settings of today."""
    if not champion.metrics:
        return []
    notes = []
    for rule in (*rules.thresholds, *rules.fairness):
        value, problem = _read(champion.metrics, rule.metric, "the champion")
        if problem:
            continue
        passed = value >= rule.min if rule.min is not None else value <= rule.max
        if not passed:
            bound = f">= {rule.min:g}" if rule.min is not None else f"<= {rule.max:g}"
            notes.append(
                f"champion {champion.version} fails {rule.metric} {bound} under today's rules "
                f"({rule.metric} {value:.4f})"
            )
    return notes


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
