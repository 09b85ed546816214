"""What the evaluate step says a model relies on: its permutation importances are
scikit-learn's on the same rows with the same seed, for every kind, and their cost
stays bounded by the rows they shuffle."""

import evaluate
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from contract import load_contract
from explain import permutation_importance, sample
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from sklearn.metrics import make_scorer, roc_auc_score

from common import read_split
from tests import tabular
from tests.pipelines.src import steps
from tests.pipelines.src.test_train import MIXED

# scikit-learn's roc_auc scorer prefers decision_function; the kind scores probabilities.
AUC_OF_PROBABILITIES = make_scorer(roc_auc_score, response_method="predict_proba")
CASES = {
    "binary-classification": (lambda: tabular.mixed(1000), MIXED, AUC_OF_PROBABILITIES),
    "multiclass-classification": (lambda: steps.WINE, steps.WINE_ROLES, "accuracy"),
    "regression": (lambda: steps.DIABETES, steps.DIABETES_ROLES, "neg_root_mean_squared_error"),
}


def held_out(folders, roles):
    """The trained model and its test rows (features, labels) as evaluate reads them."""
    model = mlflow.sklearn.load_model(str(folders["model"]))
    contract = load_contract(folders["model"])
    table = read_split(folders["test"])
    return model, contract.model_frame(table), table[roles.target_column].to_numpy()


@pytest.mark.parametrize("kind", CASES)
def test_the_importances_are_scikit_learns_on_the_same_rows_with_the_same_seed(
    tmp_path, mlflow_store, kind
):
    raw, roles, scoring = CASES[kind]
    with steps.tracking(mlflow_store, f"explain-{kind}"):
        folders = steps.run_steps(tmp_path, raw(), roles)
    explained = steps.written(folders["explanations"], "explanations.json")
    model, frame, labels = held_out(folders, roles)

    expected = sklearn_permutation_importance(
        model, frame, labels, scoring=scoring, n_repeats=5, random_state=42
    )

    assert (explained["method"], explained["repeats"], explained["seed"]) == (
        "permutation_importance", 5, 42,
    )  # fmt: skip
    assert explained["rows"] == explained["of_rows"] == len(frame)  # fewer than 200
    means = [entry["mean"] for entry in explained["features"]]
    assert means == sorted(means, reverse=True)  # most important first
    by_feature = {entry["feature"]: entry for entry in explained["features"]}
    assert sorted(by_feature) == sorted(frame.columns)
    for position, name in enumerate(frame.columns):
        assert by_feature[name]["mean"] == pytest.approx(
            expected.importances_mean[position], abs=1e-12
        )
        assert by_feature[name]["std"] == pytest.approx(
            expected.importances_std[position], abs=1e-12
        )
    assert max(e["mean"] for e in explained["features"]) > 0  # the model relies on something


def test_a_feature_the_model_ignores_has_no_importance_and_the_signal_comes_first():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"noise": rng.normal(size=400), "signal": rng.normal(size=400)})
    labels = (frame["signal"] > 0).astype(int).to_numpy()
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame[["signal"]], labels)

    def predict(part):
        return model.predict_proba(part[["signal"]])[:, 1]

    def auc(y, scores):
        return roc_auc_score(y, scores)

    _, importances = permutation_importance(predict, auc, frame, labels, repeats=4, seed=1)

    assert importances[0].tolist() == [0.0] * 4  # shuffling noise changes nothing
    assert importances[1].mean() > 0.3


def test_a_large_split_is_sampled_to_the_bound_with_the_seed_in_its_order():
    frame = pd.DataFrame({"x": np.arange(5000)})
    once, labels = sample(frame, np.arange(5000) % 2, 700, seed=42)
    again, _ = sample(frame, np.arange(5000) % 2, 700, seed=42)

    assert len(once) == 700 and once.equals(again)
    assert once["x"].is_monotonic_increasing and labels.tolist() == (once["x"] % 2).tolist()
    short, _ = sample(frame.head(10), np.zeros(10), 700, seed=42)
    assert len(short) == 10


def test_the_shuffled_copies_are_scored_in_bounded_calls(monkeypatch):
    import explain

    monkeypatch.setattr(explain, "MAX_CELLS", 3 * 100 * 2)  # three copies of 100 x 2
    frame = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0)})
    seen = []

    def predict(part):
        seen.append(len(part))
        return part["a"].to_numpy()

    def score(y, scores):
        return -float(np.mean((y - scores) ** 2))

    explain.permutation_importance(predict, score, frame, frame["a"].to_numpy(), 5, seed=0)

    assert seen == [100, 300, 300, 300, 100]  # the baseline, then 10 copies, 3 at a time


def test_a_test_split_over_the_bound_is_explained_on_a_seeded_sample_of_it(tmp_path, mlflow_store):
    with steps.tracking(mlflow_store, "explain-sampled"):
        folders = steps.run_steps(tmp_path, tabular.mixed(1000), MIXED, evaluated=False)
        again = tmp_path / "again"
        scored = ["--model", str(folders["model"]), "--test-data", str(folders["test"])]
        outputs = ["--metrics-output", str(tmp_path / "m"), "--explanations-output", str(again)]
        bound = ["--explain-rows", "60", "--explain-repeats", "3", "--seed", "7"]
        assert evaluate.main([*scored, *outputs, *bound]) == 0
    explained = steps.written(again, "explanations.json")
    model, frame, labels = held_out(folders, MIXED)
    rows, answers = sample(frame, labels, 60, seed=7)

    expected = sklearn_permutation_importance(
        model, rows, answers, scoring=AUC_OF_PROBABILITIES, n_repeats=3, random_state=7
    )

    assert (explained["rows"], explained["of_rows"], explained["repeats"]) == (60, 200, 3)
    by_feature = {entry["feature"]: entry["mean"] for entry in explained["features"]}
    assert [by_feature[name] for name in frame.columns] == pytest.approx(
        expected.importances_mean.tolist(), abs=1e-12
    )
