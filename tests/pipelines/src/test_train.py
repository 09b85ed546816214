import json

import evaluate
import mlflow
import numpy as np
import pandas as pd
import prep
import pytest
import skops.io as sio
import train
from contract import ColumnRoles, load_contract
from mlflow.models import Model

from tests import tabular
from tests.conftest import sample_frame
from tests.pipelines.src import steps

TARGET = "default_payment_next_month"
MIXED = ColumnRoles(
    target_column="defaulted",
    positive_class="yes",
    sensitive_column="sex",
    features=("income", "age", "region_code", "education", "home_owner"),
)


def prepared(table: pd.DataFrame, roles: ColumnRoles):
    return prep.prepare(table, roles, test_size=0.2, seed=3)


def test_text_columns_are_categorical_features_and_gaps_are_missing_values():
    fit, _, _ = prepared(tabular.mixed(1500), MIXED)
    model, contract, metrics = train.train(fit, MIXED, {"max_iter": 30}, seed=1)
    assert model.is_categorical_.tolist() == [False, False, False, True, False]
    assert {c.name: c.type for c in contract.columns} == {
        "income": "double",
        "age": "long",
        "region_code": "long",
        "education": "string",
        "home_owner": "boolean",
    }
    assert {c.name for c in contract.columns if c.nullable} == {
        "income",
        "education",
        "home_owner",
    }
    assert metrics["train_auc"] > 0.7


def test_the_trusted_types_are_exactly_what_a_model_of_every_feature_kind_holds():
    fit, _, _ = prepared(tabular.mixed(600), MIXED)
    model, _, _ = train.train(fit, MIXED, {"max_iter": 5}, seed=1)
    assert sorted(sio.get_untrusted_types(data=sio.dumps(model))) == sorted(
        train.SKOPS_TRUSTED_TYPES
    )


@pytest.fixture
def tracking(tmp_path):
    with steps.tracking(tmp_path, "steps") as client:
        yield client


def run_steps(tmp_path, raw: pd.DataFrame, roles: ColumnRoles) -> tuple:
    """prep, train and evaluate as the pipeline runs them; returns (model folder, metrics)."""
    folders = steps.run_steps(tmp_path, raw, roles)
    return folders["model"], steps.written(folders["metrics"], "metrics.json")


def test_the_steps_save_a_model_that_loads_under_the_trusted_type_check(tmp_path, tracking):
    model_dir, metrics = run_steps(tmp_path, tabular.mixed(2000), MIXED)
    model = mlflow.pyfunc.load_model(str(model_dir))
    rows = tabular.mixed(2000).dropna().head(10)[list(MIXED.features)]
    probabilities = model.predict(rows.astype({"home_owner": bool}))
    assert probabilities.shape == (10, 2)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    contract = load_contract(model_dir)
    assert contract.labels == ("no", "yes")
    assert contract.categories["education"] == ["graduate", "high_school", "other", "university"]
    assert 0.6 < metrics["auc"] <= 1.0
    assert "demographic_parity_difference" in metrics


def test_the_steps_log_parameters_and_metrics_to_mlflow(tmp_path, tracking):
    roles = ColumnRoles(TARGET, "1", "SEX", tuple(sample_frame(5).columns.drop([TARGET, "SEX"])))
    _, written = run_steps(tmp_path, sample_frame(2000), roles)
    runs = tracking.search_runs([tracking.get_experiment_by_name("steps").experiment_id])
    logged = {key: value for run in runs for key, value in run.data.metrics.items()}
    assert logged["auc"] == pytest.approx(written["auc"])
    assert "train_auc" in logged
    assert any(run.data.params.get("max_iter") == "20" for run in runs)


def test_without_a_sensitive_column_no_fairness_metric_is_written(tmp_path, tracking, capsys):
    roles = ColumnRoles("churned", "1", None, ("x1", "x2", "x3"))
    _, written = run_steps(tmp_path, tabular.numeric_only(1500), roles)
    assert "demographic_parity_difference" not in written
    assert "equalized_odds_difference" not in written
    assert written["auc"] > 0.7
    assert "no sensitive column: fairness not measured" in capsys.readouterr().out
    drawn = json.loads((tmp_path / "metrics" / "curves.json").read_text())
    assert drawn["groups"] == {}


def test_a_sensitive_column_of_four_groups_gives_rates_for_each(tmp_path, tracking):
    roles = ColumnRoles("approved", "true", "region", ("score", "tenure"))
    _, written = run_steps(tmp_path, tabular.multi_group(2000), roles)
    drawn = json.loads((tmp_path / "metrics" / "curves.json").read_text())
    assert sorted(drawn["groups"]) == ["east", "north", "south", "west"]
    assert np.isfinite(written["equalized_odds_difference"])


def test_a_missing_training_folder_fails_with_a_one_line_error(tmp_path, capsys):
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps(MIXED.to_dict()))
    code = train.main(
        [
            "--train-data",
            str(tmp_path / "absent"),
            "--columns",
            str(columns),
            "--model-output",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2
    assert "expected one .parquet file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_feature_with_gaps_only_outside_the_train_split_is_still_nullable():
    roles = ColumnRoles("churned", "1", None, ("x1", "x3"))
    fit, _, _ = prepared(tabular.numeric_only(400), roles)
    _, contract, _ = train.train(fit, roles, {"max_iter": 5}, seed=1, gaps={"x3"})
    assert {c.name: c.nullable for c in contract.columns} == {"x1": False, "x3": True}


def test_a_model_saved_before_the_contract_file_existed_is_described_by_its_signature(
    tmp_path, tracking
):
    model_dir, _ = run_steps(tmp_path, tabular.mixed(1500), MIXED)
    (model_dir / "data_contract.json").unlink()
    contract = load_contract(model_dir)
    assert contract.roles is None
    assert [c.name for c in contract.columns] == list(MIXED.features)
    frame = contract.model_frame(tabular.mixed(20))
    assert mlflow.sklearn.load_model(str(model_dir)).predict_proba(frame).shape == (20, 2)


# -- the other kinds, each trained once on its sample data ----------------------


@pytest.fixture(scope="module")
def wine(tmp_path_factory, mlflow_store):
    """The folders of prep, train and evaluate on the wine sample (multiclass),
    and what MLflow logged of them."""
    folder = tmp_path_factory.mktemp("wine")
    with steps.tracking(mlflow_store, "train-wine") as client:
        folders = steps.run_steps(folder, steps.WINE, steps.WINE_ROLES)
        return folders, steps.logged(client, "train-wine")


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory, mlflow_store):
    """The folders of prep, train and evaluate on the diabetes sample (regression),
    and what MLflow logged of them."""
    folder = tmp_path_factory.mktemp("diabetes")
    with steps.tracking(mlflow_store, "train-diabetes") as client:
        folders = steps.run_steps(folder, steps.DIABETES, steps.DIABETES_ROLES)
        return folders, steps.logged(client, "train-diabetes")


def catalogue(kind: str, groups: bool) -> list[str]:
    entries = json.loads(evaluate.catalog_file(kind).read_text())
    return [name for name, entry in entries.items() if groups or "needs" not in entry]


def output_shape(model_dir) -> tuple[int, ...]:
    """The shape of the model's output in its MLflow signature."""
    return tuple(Model.load(str(model_dir)).get_output_schema().inputs[0].shape)


def test_a_multiclass_model_of_wine_is_measured_by_its_catalogue(wine):
    folders, logged = wine
    metrics = steps.written(folders["metrics"], "metrics.json")
    assert list(metrics) == catalogue("multiclass-classification", groups=False)
    assert metrics["accuracy"] > 0.8
    assert 0 < metrics["min_class_recall"] <= metrics["balanced_accuracy"] <= 1
    assert metrics["log_loss"] > 0 and metrics["test_rows"] == 36
    assert logged["f1_macro"] == pytest.approx(metrics["f1_macro"])
    assert {"train_accuracy", "train_rows", "boosting_iterations"} <= set(logged)


def test_a_multiclass_model_draws_a_confusion_matrix_and_each_class_recall(wine):
    folders, _ = wine
    drawn = steps.written(folders["metrics"], "curves.json")
    classes = ["class_0", "class_1", "class_2"]
    assert drawn["confusion"]["labels"] == classes
    matrix = np.array(drawn["confusion"]["matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 36
    assert matrix.trace() / 36 == pytest.approx(
        steps.written(folders["metrics"], "metrics.json")["accuracy"]
    )
    assert list(drawn["recall"]) == classes
    assert drawn["groups"] == {}
    assert steps.written(folders["metrics"], "feature_signal.json") == {}


def test_a_multiclass_model_is_saved_with_its_classes_and_one_probability_each(wine):
    folders, _ = wine
    contract = load_contract(folders["model"])
    assert (contract.kind, contract.labels) == (
        "multiclass-classification",
        ("class_0", "class_1", "class_2"),
    )
    assert steps.written(folders["model"], "data_contract.json")["positive_class"] is None
    assert output_shape(folders["model"]) == (-1, 3)
    rows = pd.read_csv(steps.WINE).head(5)[list(steps.WINE_ROLES.features)]
    probabilities = mlflow.pyfunc.load_model(str(folders["model"])).predict(rows)
    assert probabilities.shape == (5, 3)
    assert np.allclose(probabilities.sum(axis=1), 1)


def test_a_regression_model_of_diabetes_is_measured_by_its_catalogue(diabetes):
    folders, logged = diabetes
    metrics = steps.written(folders["metrics"], "metrics.json")
    assert list(metrics) == catalogue("regression", groups=True)
    assert metrics["r2"] > 0.2
    assert metrics["rmse"] >= metrics["mae"] > 0
    assert 0 < metrics["mape"] < 1
    assert 0 <= metrics["mae_difference"] < metrics["mae"]
    assert logged["rmse"] == pytest.approx(metrics["rmse"])
    assert {"train_rmse", "train_rows", "boosting_iterations"} <= set(logged)


def test_a_regression_model_draws_predicted_against_actual_and_its_residuals(diabetes):
    folders, _ = diabetes
    drawn = steps.written(folders["metrics"], "curves.json")
    test = pd.read_parquet(folders["test"] / "data.parquet")
    assert drawn["points"]["actual"] == test["progression"].tolist()
    assert len(drawn["points"]["predicted"]) == len(test)
    assert len(drawn["residuals"]["edges"]) == 31
    assert sum(drawn["residuals"]["counts"]) == len(test)
    assert sorted(drawn["groups"]) == ["1.0", "2.0"]
    assert sum(group["count"] for group in drawn["groups"].values()) == len(test)
    assert all(group["mae"] > 0 for group in drawn["groups"].values())


def test_a_regression_model_names_each_features_own_r2(diabetes):
    folders, _ = diabetes
    signal = steps.written(folders["metrics"], "feature_signal.json")
    assert list(signal) == ["r2"]
    assert set(signal["r2"]) == set(steps.DIABETES_ROLES.features)
    assert list(signal["r2"].values()) == sorted(signal["r2"].values(), reverse=True)
    assert next(iter(signal["r2"])) in ("bmi", "s5")  # the strongest single measures
    assert all(0 <= value < 0.5 for value in signal["r2"].values())


def test_a_regression_model_loads_and_predicts_one_number_per_row(diabetes):
    folders, _ = diabetes
    contract = load_contract(folders["model"])
    assert (contract.kind, contract.labels) == ("regression", ())
    assert steps.written(folders["model"], "data_contract.json")["labels"] == {}
    assert output_shape(folders["model"]) == (-1,)
    rows = pd.read_csv(steps.DIABETES).head(4)[list(steps.DIABETES_ROLES.features)]
    model = mlflow.sklearn.load_model(str(folders["model"]))
    assert type(model).__name__ == "HistGradientBoostingRegressor"
    predicted = mlflow.pyfunc.load_model(str(folders["model"])).predict(rows)
    assert predicted.shape == (4,) and np.isfinite(predicted).all()


def test_a_regressor_with_text_features_needs_no_more_trusted_types():
    roles = ColumnRoles(
        "age", None, None, ("income", "region_code", "education", "home_owner"), "regression"
    )
    fit, _, _ = prepared(tabular.mixed(600), roles)
    model, _, metrics = train.train(fit, roles, {"max_iter": 5}, seed=1, names=())
    assert sorted(sio.get_untrusted_types(data=sio.dumps(model))) == sorted(
        train.SKOPS_TRUSTED_TYPES
    )
    assert list(metrics) == ["train_rmse", "train_rows", "boosting_iterations"]


def test_a_binary_model_writes_the_same_files_as_before_kinds(tmp_path, mlflow_store, capsys):
    roles = ColumnRoles("churned", "1", None, ("x1", "x2", "x3"))
    with steps.tracking(mlflow_store, "train-binary"):
        folders = steps.run_steps(tmp_path, tabular.numeric_only(1500), roles)
    printed = capsys.readouterr().out
    assert '"positive_rate": ' in printed and printed.count("train_auc=") == 1
    assert list(steps.written(folders["metrics"], "feature_signal.json")) == ["auc"]
    assert list(steps.written(folders["metrics"], "curves.json")) == ["roc", "groups"]
    saved = steps.written(folders["model"], "data_contract.json")
    assert (saved["kind"], saved["labels"]) == ("binary-classification", {"0": "0", "1": "1"})
    assert output_shape(folders["model"]) == (-1, 2)
