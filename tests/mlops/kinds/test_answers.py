"""Each kind's check of a scoring answer: what the deploy's smoke test refuses."""

import math

import pytest

from mlops.kinds import KINDS, get_kind


def refused(kind: str, answer, rows: int) -> str | None:
    try:
        get_kind(kind).check_answer(answer, rows)
    except ValueError as problem:
        return str(problem)
    return None


def says(found: str | None, expected: str | None) -> bool:
    return found is expected is None or (None not in (found, expected) and expected in found)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"predictions": [1, 0], "probabilities": [0.9, 0.2]}, None),
        ({"predictions": [1], "probabilities": [0.9]}, "1 answers for 2 rows"),
        ({"predictions": [1, 0], "probabilities": [1.5, 0.2]}, "not probabilities in [0, 1]"),
        ({"predictions": [0, 0], "probabilities": [0.9, 0.2]}, "labels that disagree"),
        ({"predictions": ["a", "b"]}, "not the scoring contract's JSON"),
    ],
)
def test_a_binary_answer_is_a_probability_and_its_label_per_row(answer, problem):
    assert says(refused("binary-classification", answer, 2), problem)


ROW = {"class_0": 0.7, "class_1": 0.2, "class_2": 0.1}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"predictions": ["class_0"], "probabilities": [ROW]}, None),
        ({"predictions": ["class_1"], "probabilities": [ROW]}, "not the most probable"),
        (
            {"predictions": ["class_0"], "probabilities": [{**ROW, "class_2": 0.5}]},
            "do not add up to 1",
        ),
        (
            {"predictions": ["class_0"], "probabilities": [{"class_0": 0.8, "class_1": 0.2}]},
            "not of the same three or more classes",
        ),
        ({"predictions": ["class_0"], "probabilities": [0.7]}, "not the scoring contract's JSON"),
    ],
)
def test_a_multiclass_answer_is_the_class_and_every_class_probability(answer, problem):
    assert says(refused("multiclass-classification", answer, 1), problem)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"predictions": [151.5, -3]}, None),
        ({"predictions": [151.5]}, "1 answers for 2 rows"),
        ({"predictions": [151.5, math.inf]}, "not finite numbers"),
        ({"predictions": [151.5, "7"]}, "predictions that are not numbers"),
        ({"probabilities": [0.2, 0.3]}, "not the scoring contract's JSON"),
    ],
)
def test_a_regression_answer_is_one_finite_number_per_row(answer, problem):
    assert says(refused("regression", answer, 2), problem)


def test_every_kind_names_a_catalogue_that_holds_its_default_gates_metrics():
    import json

    from tests.conftest import REPO

    for kind in KINDS.values():
        catalog = json.loads((REPO / kind.catalog()).read_text())
        rules = [*kind.gate["thresholds"], *kind.gate["fairness"], kind.gate["improvement"]]
        for rule in [*rules, *kind.plausibility]:
            assert catalog[rule["metric"]]["better"] == rule["better"], (kind.name, rule)
        assert kind.headline in catalog


def test_an_unknown_kind_names_the_kinds_there_are():
    with pytest.raises(KeyError, match="the kinds are binary-classification, multiclass"):
        get_kind("forecasting")
