import sys

import evaluate
import numpy as np
import pandas as pd
import pytest
from explain_shap import shap_entry
from kinds import KINDS

from tests import tabular
from tests.pipelines.src import steps
from tests.pipelines.src.test_train import MIXED


def signal_and_noise(kind: str, rows: int = 600):
    """Two features, ``signal`` (the target follows it) and ``noise`` (it does
    not), and the target of ``kind``."""
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"noise": rng.normal(size=rows), "signal": rng.normal(size=rows)})
    if kind == "regression":
        target = 3 * frame["signal"].to_numpy()
    elif kind == "binary-classification":
        target = (frame["signal"] > 0).astype(int).to_numpy()
    else:
        target = np.digitize(frame["signal"], [-0.5, 0.5])
    return frame, target


@pytest.mark.parametrize("kind", KINDS)
def test_the_feature_the_target_follows_has_the_shap_value_and_noise_next_to_none(kind):
    frame, target = signal_and_noise(kind)
    row = KINDS[kind]
    model = row.estimator(random_state=0, max_iter=30).fit(frame, target)

    entry = shap_entry(model, frame.head(100), row.raw_output, row.shap_scale, of_rows=600)

    assert "skipped" not in entry, entry.get("skipped")
    assert (entry["method"], entry["rows"], entry["of_rows"]) == ("shap.TreeExplainer", 100, 600)
    assert entry["scale"] == row.shap_scale
    first, second = entry["features"]
    assert first["feature"] == "signal" and second["feature"] == "noise"
    assert second["mean_abs"] < 0.1 * first["mean_abs"]
    # each row's values and the expected value add up to the model's raw output
    assert entry["additivity_error"] < 1e-9


def test_a_model_that_splits_on_categories_is_skipped_naming_them():
    table = tabular.mixed(600)
    frame = table[list(MIXED.features)].astype({"home_owner": float})
    labels = (table["defaulted"] == "yes").astype(int)
    row = KINDS["binary-classification"]
    model = row.estimator(categorical_features=["education"], random_state=0, max_iter=20)
    model.fit(frame, labels)

    entry = shap_entry(model, frame.head(50), row.raw_output, row.shap_scale, of_rows=600)

    assert "features" not in entry
    assert "splits on categories (education)" in entry["skipped"]


def test_an_estimator_shap_cannot_read_is_skipped_saying_so():
    from sklearn.linear_model import LogisticRegression

    frame, target = signal_and_noise("binary-classification")
    model = LogisticRegression().fit(frame, target)

    entry = shap_entry(model, frame, lambda m, f: m.decision_function(f), "log-odds", of_rows=600)

    assert entry["skipped"].startswith("shap cannot explain LogisticRegression")


def test_evaluate_writes_shap_values_only_when_asked(tmp_path, mlflow_store):
    asked, plain = tmp_path / "asked", tmp_path / "plain"
    asked.mkdir(), plain.mkdir()
    with steps.tracking(mlflow_store, "explain-shap"):
        folders = steps.run_steps(
            asked, steps.WINE, steps.WINE_ROLES, evaluate_args=("--shap-rows", "25")
        )
        without = steps.run_steps(plain, steps.WINE, steps.WINE_ROLES)

    explained = steps.written(folders["explanations"], "explanations.json")
    entry = explained["shap"]
    assert entry["rows"] == 25 and entry["of_rows"] == explained["of_rows"]
    assert entry["scale"] == KINDS["multiclass-classification"].shap_scale
    assert sorted(e["feature"] for e in entry["features"]) == sorted(steps.WINE_ROLES.features)
    assert "shap" not in steps.written(without["explanations"], "explanations.json")


def test_shap_values_asked_for_without_the_package_fail_the_step_saying_what_to_install(
    tmp_path, mlflow_store, monkeypatch, capsys
):
    with steps.tracking(mlflow_store, "explain-no-shap"):
        folders = steps.run_steps(tmp_path, steps.WINE, steps.WINE_ROLES, evaluated=False)
        monkeypatch.setitem(sys.modules, "shap", None)  # import shap raises ImportError
        status = evaluate.main(
            [
                "--model", str(folders["model"]),
                "--test-data", str(folders["test"]),
                "--metrics-output", str(folders["metrics"]),
                "--explanations-output", str(folders["explanations"]),
                "--shap-rows", "25",
            ]
        )  # fmt: skip

    assert status != 0
    message = capsys.readouterr().err
    assert "the shap package is not installed" in message and "make setup" in message
    assert not (folders["explanations"] / "explanations.json").exists()
