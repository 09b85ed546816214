"""The promotion gate: every rule in both directions, and failing closed."""

import math

import pytest

from mlops.gate import Champion, decide
from mlops.settings import GateSettings, ImprovementRule, ThresholdRule

GOOD = {"auc": 0.78, "log_loss": 0.43, "demographic_parity_difference": 0.03}


def rules(*, thresholds=(), fairness=(), improvement=None) -> GateSettings:
    return GateSettings(
        thresholds=tuple(ThresholdRule(**r) for r in thresholds),
        fairness=tuple(ThresholdRule(**r) for r in fairness),
        improvement=ImprovementRule(**improvement) if improvement else None,
    )


@pytest.mark.parametrize(
    ("rule", "value", "passed"),
    [
        ({"metric": "auc", "better": "higher", "min": 0.7}, 0.70, True),
        ({"metric": "auc", "better": "higher", "min": 0.7}, 0.6999, False),
        ({"metric": "log_loss", "better": "lower", "max": 0.5}, 0.50, True),
        ({"metric": "log_loss", "better": "lower", "max": 0.5}, 0.5001, False),
    ],
)
def test_a_floor_or_ceiling_decides_on_its_own_side(rule, value, passed):
    decision = decide({rule["metric"]: value}, None, rules(thresholds=[rule]))
    assert decision.promote is passed
    (check,) = decision.checks
    assert check.passed is passed
    assert check.candidate == value
    assert ("meets" if passed else "fails") in check.reason


def test_a_fairness_bound_is_its_own_kind_of_check():
    bound = {"metric": "demographic_parity_difference", "better": "lower", "max": 0.1}
    fair = decide({"demographic_parity_difference": 0.03}, None, rules(fairness=[bound]))
    unfair = decide({"demographic_parity_difference": 0.15}, None, rules(fairness=[bound]))
    assert fair.promote and not unfair.promote
    assert unfair.checks[0].kind == "fairness"
    assert unfair.failed()[0].reason == "demographic_parity_difference 0.1500 fails <= 0.1"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_metric_fails_closed(bad):
    rule = {"metric": "auc", "better": "higher", "min": 0.7}
    decision = decide({"auc": bad}, None, rules(thresholds=[rule]))
    assert not decision.promote
    assert "not a finite number" in decision.checks[0].reason


def test_a_missing_metric_fails_closed_and_says_which():
    rule = {"metric": "recall", "better": "higher", "min": 0.3}
    decision = decide(GOOD, None, rules(thresholds=[rule]))
    assert not decision.promote
    assert decision.checks[0].reason == "recall is missing from the candidate's metrics"


def test_a_gate_without_rules_promotes_nothing():
    # The settings refuse an empty gate; the decision fails closed on one all the same.
    decision = decide(GOOD, None, GateSettings.model_construct())
    assert not decision.promote
    assert "no rules" in decision.checks[0].reason


def test_the_first_model_needs_no_improvement():
    improve = {"metric": "auc", "better": "higher", "min_delta": 0.01}
    decision = decide(GOOD, None, rules(improvement=improve))
    assert decision.promote
    assert decision.champion_version is None
    assert "first model" in decision.checks[0].reason


@pytest.mark.parametrize(
    ("better", "champion", "candidate", "delta", "relative", "promote"),
    [
        ("higher", 0.75, 0.76, 0.01, False, True),  # exactly the margin
        ("higher", 0.75, 0.755, 0.01, False, False),  # better, but not by enough
        ("higher", 0.75, 0.75, 0.0, False, True),  # as good is enough with no margin
        ("higher", 0.80, 0.75, 0.0, False, False),  # worse
        ("lower", 0.50, 0.45, 0.05, False, True),  # lower is better: a drop is a gain
        ("lower", 0.50, 0.55, 0.0, False, False),  # higher loss is worse
        ("higher", 0.80, 0.81, 0.01, True, True),  # 1 % of 0.80 = 0.008
        ("higher", 0.80, 0.805, 0.01, True, False),
        ("lower", 0.40, 0.395, 0.02, True, False),  # 2 % of 0.40 = 0.008
        ("lower", 0.40, 0.39, 0.02, True, True),
    ],
)
def test_the_improvement_margin_follows_the_metric_direction(
    better, champion, candidate, delta, relative, promote
):
    rule = {"metric": "m", "better": better, "min_delta": delta, "relative": relative}
    decision = decide({"m": candidate}, Champion("3", {"m": champion}), rules(improvement=rule))
    assert decision.promote is promote
    check = decision.checks[0]
    assert (check.candidate, check.champion) == (candidate, champion)
    assert decision.champion_version == "3"


def test_unreadable_champion_metrics_fail_closed():
    rule = {"metric": "auc", "better": "higher", "min_delta": 0.0}
    unreadable = Champion("4", None, "tag metric.auc is not a number")
    decision = decide(GOOD, unreadable, rules(improvement=rule))
    assert not decision.promote
    assert decision.checks[0].reason == (
        "champion 4: metrics unreadable (tag metric.auc is not a number)"
    )


@pytest.mark.parametrize("champion_metrics", [{}, {"auc": math.nan}])
def test_a_champion_without_the_primary_metric_fails_closed(champion_metrics):
    rule = {"metric": "auc", "better": "higher", "min_delta": 0.0}
    decision = decide(GOOD, Champion("2", champion_metrics), rules(improvement=rule))
    assert not decision.promote
    assert "champion 2" in decision.checks[0].reason


def test_every_rule_is_checked_and_reported_even_after_a_failure():
    decision = decide(
        {"auc": 0.65, "log_loss": 0.6, "demographic_parity_difference": 0.01},
        Champion("1", {"auc": 0.70, "log_loss": 0.45}),
        rules(
            thresholds=[
                {"metric": "auc", "better": "higher", "min": 0.7},
                {"metric": "log_loss", "better": "lower", "max": 0.5},
            ],
            fairness=[{"metric": "demographic_parity_difference", "better": "lower", "max": 0.1}],
            improvement={"metric": "auc", "better": "higher", "min_delta": 0.0},
        ),
    )
    assert [c.passed for c in decision.checks] == [False, False, True, False]
    assert [c.metric for c in decision.failed()] == ["auc", "log_loss", "auc"]
    # The champion's value is shown beside every threshold for the reviewer.
    assert decision.checks[1].champion == 0.45
    assert decision.to_dict()["verdict"] == "reject"
