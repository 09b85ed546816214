import json

import evaluate
import mlflow
import pytest
import train
from mlflow.tracking import MlflowClient

from tests.conftest import sample_frame

TARGET = "default_payment_next_month"


def test_text_columns_are_used_as_categorical_features():
    table = sample_frame(1500)[["AGE", "PAY_0", "SEX", TARGET]]
    table["PAY_0"] = table["PAY_0"].map(lambda v: f"status{v}")
    model, features, metrics = train.train(table, TARGET, "SEX", {"max_iter": 30}, seed=1)
    assert list(features.columns) == ["AGE", "PAY_0"]
    assert model.named_steps["boost"].is_categorical_.tolist() == [True, False]
    assert metrics["train_auc"] > 0.6


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "steps")
    return MlflowClient(uri)


def test_train_then_evaluate_save_a_loadable_model_and_log_to_mlflow(tmp_path, tracking):
    table = sample_frame(2000).drop(columns=["EDUCATION"])
    table.iloc[:1500].to_parquet(tmp_path / "train.parquet")
    (tmp_path / "test").mkdir()
    table.iloc[1500:].to_parquet(tmp_path / "test" / "data.parquet")
    (tmp_path / "train").mkdir()
    (tmp_path / "train.parquet").rename(tmp_path / "train" / "data.parquet")
    columns = ["--target-column", TARGET, "--sensitive-column", "SEX"]

    model_dir = tmp_path / "model"
    model_dir.mkdir()  # Azure ML mounts the output folder before the step starts
    assert (
        train.main(
            [
                "--train-data",
                str(tmp_path / "train"),
                *columns,
                "--max-iter",
                "20",
                "--model-output",
                str(model_dir),
            ]
        )
        == 0
    )
    model = mlflow.pyfunc.load_model(str(model_dir))
    rows = table.iloc[1500:1510].drop(columns=[TARGET, "SEX"])
    probabilities = model.predict(rows)
    assert probabilities.shape == (10, 2)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert [c.name for c in model.metadata.get_input_schema().inputs] == list(rows.columns)

    metrics_dir = tmp_path / "metrics"
    assert (
        evaluate.main(
            [
                "--model",
                str(model_dir),
                "--test-data",
                str(tmp_path / "test"),
                *columns,
                "--metrics-output",
                str(metrics_dir),
            ]
        )
        == 0
    )
    written = json.loads((metrics_dir / "metrics.json").read_text())
    assert 0.6 < written["auc"] <= 1.0
    runs = tracking.search_runs([tracking.get_experiment_by_name("steps").experiment_id])
    logged = {key: value for run in runs for key, value in run.data.metrics.items()}
    assert logged["auc"] == pytest.approx(written["auc"])
    assert "train_auc" in logged
    assert any(run.data.params.get("max_iter") == "20" for run in runs)


def test_a_missing_training_folder_fails_with_a_one_line_error(tmp_path, capsys):
    code = train.main(
        [
            "--train-data",
            str(tmp_path / "absent"),
            "--target-column",
            TARGET,
            "--sensitive-column",
            "SEX",
            "--model-output",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2
    assert "expected one .parquet file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
