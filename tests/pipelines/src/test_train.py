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
from mlflow.tracking import MlflowClient

from tests import tabular
from tests.conftest import sample_frame

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
def tracking(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "steps")
    return MlflowClient(uri)


def run_steps(tmp_path, raw: pd.DataFrame, roles: ColumnRoles) -> tuple:
    """prep, train and evaluate as the pipeline runs them; returns (model folder, metrics)."""
    raw_file, columns = tmp_path / "raw.csv", tmp_path / "columns.json"
    raw.to_csv(raw_file, index=False)
    columns.write_text(json.dumps(roles.to_dict()))
    folders = {name: tmp_path / name for name in ("train", "test", "model", "metrics")}
    folders["model"].mkdir()  # Azure ML mounts the output folder before the step starts
    assert (
        prep.main(
            [
                "--raw-data",
                str(raw_file),
                "--columns",
                str(columns),
                "--train-data",
                str(folders["train"]),
                "--test-data",
                str(folders["test"]),
            ]
        )
        == 0
    )
    assert (
        train.main(
            [
                "--train-data",
                str(folders["train"]),
                "--columns",
                str(columns),
                "--max-iter",
                "20",
                "--model-output",
                str(folders["model"]),
            ]
        )
        == 0
    )
    assert (
        evaluate.main(
            [
                "--model",
                str(folders["model"]),
                "--test-data",
                str(folders["test"]),
                "--metrics-output",
                str(folders["metrics"]),
            ]
        )
        == 0
    )
    written = json.loads((folders["metrics"] / "metrics.json").read_text())
    return folders["model"], written


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
