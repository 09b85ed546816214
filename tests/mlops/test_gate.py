"""The promotion gate: every rule in both directions, and failing closed."""

import math

import pytest

from mlops.gate import Champion, decide
from mlops.settings import (
    ExplanationRule,
    GateSettings,
    ImprovementRule,
    PlausibilityRule,
    ThresholdRule,
)

GOOD = {"auc": 0.78, "log_loss": 0.43, "demographic_parity_difference": 0.03}


def rules(*, thresholds=(), fairness=(), improvement=None, plausibility=()) -> GateSettings:
    """A gate of exactly these rules (the default plausibility rule only when given)."""
    return GateSettings(
        thresholds=tuple(ThresholdRule(**r) for r in thresholds),
        fairness=tuple(ThresholdRule(**r) for r in fairness),
        plausibility=tuple(PlausibilityRule(**r) for r in plausibility),
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
    assert "no rules" in decision.failed()[0].reason


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


AUC_FLOOR = {"metric": "auc", "better": "higher", "min": 0.7}
TOO_GOOD = {"metric": "auc", "better": "higher", "implausible_at": 0.995}


def test_a_too_good_model_is_refused_naming_the_feature_that_leaks():
    gate = rules(thresholds=[AUC_FLOOR], plausibility=[TOO_GOOD])
    signal = {"auc": {"AGE": 1.0, "PAY_0": 0.71}}
    decision = decide({"auc": 1.0}, None, gate, signal=signal)
    assert not decision.promote
    (failed,) = decision.failed()
    assert failed.kind == "plausibility"
    assert failed.reason.startswith(
        "auc 1.0000 is too good to be true (gate.plausibility: < 0.995)"
    )
    assert "feature 'AGE' alone has auc 1.0000" in failed.reason
    assert "data.features.exclude" in failed.reason


def test_a_too_good_model_without_a_telling_feature_says_no_single_feature_explains_it():
    decision = decide(
        {"auc": 0.999},
        None,
        rules(thresholds=[AUC_FLOOR], plausibility=[TOO_GOOD]),
        signal={"auc": {"PAY_0": 0.71}},
    )
    assert "no single feature explains it (the best, 'PAY_0'" in decision.failed()[0].reason


def test_a_too_good_regression_names_the_feature_by_its_own_r2():
    too_good = {"metric": "r2", "better": "higher", "implausible_at": 0.999}
    decision = decide(
        {"r2": 0.9995},
        None,
        rules(
            thresholds=[{"metric": "r2", "better": "higher", "min": 0.25}], plausibility=[too_good]
        ),
        signal={"r2": {"s5": 0.9993, "bmi": 0.34}, "auc": {"s5": 0.2}},
    )
    assert "feature 's5' alone has r2 0.9993 on the test split" in decision.failed()[0].reason


@pytest.mark.parametrize(("bound", "passed"), [(0.995, True), (0.78, False)])
def test_the_plausibility_bound_is_a_setting(bound, passed):
    rule = {**TOO_GOOD, "implausible_at": bound}
    decision = decide(GOOD, None, rules(thresholds=[AUC_FLOOR], plausibility=[rule]))
    assert decision.promote is passed  # at the bound is already too good


CHAMPION = Champion("1", {"auc": 0.77, "log_loss": 0.43})
IMPROVE = {"metric": "auc", "better": "higher", "min_delta": 0.001}
CHANGE = "the candidate predicts is_young = yes, champion 1 predicts default = 1"


def test_a_change_of_task_is_refused_with_both_ways_out_and_no_metric_comparison():
    gate = rules(thresholds=[AUC_FLOOR], improvement=IMPROVE)
    decision = decide({"auc": 0.9}, CHAMPION, gate, task_change=CHANGE)
    assert not decision.promote and decision.task_changed
    (failed,) = decision.failed()
    assert failed.reason == (
        f"task changed: {CHANGE}; to serve it beside the champion, make it a new model "
        "(`mlops new-model NAME --kind KIND --from` this one: its own folder, endpoint and "
        "registry name); to replace the champion's task, pass --replace-task REASON "
        "(recorded on the version)"
    )
    assert [c.kind for c in decision.checks] == ["threshold", "task"]
    assert decision.checks[0].champion is None  # another task's auc is not shown beside


def test_replacing_the_task_judges_the_candidate_as_the_first_of_its_task():
    gate = rules(thresholds=[AUC_FLOOR], improvement=IMPROVE)
    decision = decide({"auc": 0.72}, CHAMPION, gate, task_change=CHANGE, replace_task="new use")
    assert decision.promote and decision.task_replaced
    task, improvement = decision.checks[1:]
    assert task.reason == f"task of champion 1 replaced: {CHANGE} (new use)"
    assert "first model of this task needs no improvement" in improvement.reason
    # The floors still hold.
    low = decide({"auc": 0.6}, CHAMPION, gate, task_change=CHANGE, replace_task="new use")
    assert not low.promote


def test_a_champion_that_fails_todays_rules_is_said_so():
    gate = rules(thresholds=[{**AUC_FLOOR, "min": 0.8}], improvement=IMPROVE)
    decision = decide({"auc": 0.81}, CHAMPION, gate)
    assert "champion 1 fails auc >= 0.8 under today's rules (auc 0.7700)" in decision.notes
    assert decide({"auc": 0.81}, CHAMPION, rules(thresholds=[AUC_FLOOR])).notes == ()


def explained(**rule) -> GateSettings:
    """A gate of one floor on auc and one rule on the top features."""
    return GateSettings(
        thresholds=(ThresholdRule(metric="auc", better="higher", min=0.7),),
        explanations=(ExplanationRule(**rule),),
    )


RANKING = ("PAY_0", "LIMIT_BAL", "BILL_AMT1", "AGE", "PAY_2", "SEX_PROXY")


def test_a_forbidden_feature_in_the_top_features_rejects_and_is_named_with_its_place():
    gate = explained(top=4, forbidden=["AGE", "EDUCATION"])

    caught = decide(GOOD, None, gate, ranking=RANKING)
    below = decide(GOOD, None, gate, ranking=("PAY_0", "LIMIT_BAL", "BILL_AMT1", "PAY_2", "AGE"))

    assert not caught.promote
    (check,) = caught.failed()
    assert (check.kind, check.metric, check.threshold) == (
        "explanation", "top 4 features", "none of AGE, EDUCATION",
    )  # fmt: skip
    assert check.reason.startswith(
        "AGE is number 4 of the candidate's top 4 (gate.explanations.0.forbidden)"
    )
    assert below.promote  # fifth: outside the top 4
    assert below.checks[1].reason == "none of AGE, EDUCATION in the top 4"


def test_top_features_that_share_too_little_with_the_champions_reject_naming_the_change():
    gate = explained(top=3, min_overlap=2)
    champion = Champion("3", {"auc": 0.77})

    moved = decide(GOOD, champion, gate, ranking=RANKING, champion_ranking=("PAY_0", "AGE", "X"))
    kept = decide(
        GOOD, champion, gate, ranking=RANKING, champion_ranking=("LIMIT_BAL", "PAY_0", "AGE")
    )

    assert not moved.promote
    assert moved.failed()[0].reason == (
        "the top 3 share 1 with champion 3's, fewer than 2 "
        "(new: LIMIT_BAL, BILL_AMT1; left: AGE, X)"
    )
    assert kept.promote
    assert kept.checks[1].reason.startswith("the top 3 share 2 with champion 3's")


def test_unknown_importances_fail_the_candidate_but_leave_a_champion_uncompared():
    gate = explained(top=3, min_overlap=2)
    champion = Champion("3", {"auc": 0.77})

    unknown = decide(GOOD, champion, gate, ranking=None, champion_ranking=RANKING)
    uncompared = decide(GOOD, champion, gate, ranking=RANKING, champion_ranking=None)
    first = decide(GOOD, None, gate, ranking=RANKING)

    assert not unknown.promote
    assert "the candidate's importances are unknown" in unknown.failed()[0].reason
    assert uncompared.promote
    assert "champion 3's importances are unknown here" in uncompared.checks[1].reason
    assert (
        first.promote and first.checks[1].reason == "no champion to compare the top features with"
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"top": 5}, "give min_overlap, forbidden or both"),
        ({"top": 3, "min_overlap": 4}, "min_overlap 4 is more than the top 3"),
    ],
)
def test_an_explanation_rule_that_checks_nothing_or_cannot_pass_is_refused(rule, message):
    with pytest.raises(ValueError, match=message):
        ExplanationRule(**rule)
