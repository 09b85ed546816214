"""The step scripts run as the pipeline runs them (their ``main()``), on the
sample data sets of each model kind, with MLflow tracking in a folder of the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import evaluate
import pandas as pd
import prep
import pytest
import train
from contract import ColumnRoles
from mlflow.tracking import MlflowClient

from tests.conftest import REPO

WINE = REPO / "data" / "wine" / "wine.csv"
DIABETES = REPO / "data" / "diabetes" / "diabetes.csv"
WINE_ROLES = ColumnRoles(
    target_column="cultivar",
    positive_class=None,
    sensitive_column=None,
    features=tuple(pd.read_csv(WINE, nrows=0).columns.drop("cultivar")),
    kind="multiclass-classification",
)
DIABETES_ROLES = ColumnRoles(
    target_column="progression",
    positive_class=None,
    sensitive_column="sex",
    features=tuple(pd.read_csv(DIABETES, nrows=0).columns.drop(["progression", "sex"])),
    kind="regression",
)


@contextmanager
def tracking(store: Path, experiment: str) -> Iterator[MlflowClient]:
    """MLflow runs logged to the store in the folder ``store``, under ``experiment``,
    while inside."""
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = MlflowClient(uri)
    if client.get_experiment_by_name(experiment) is None:
        # Artifacts in the store's folder too: by default they land in ./mlruns.
        artifacts = (store / "artifacts" / experiment).as_uri()
        client.create_experiment(experiment, artifact_location=artifacts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
        yield client


def logged(client: MlflowClient, experiment: str) -> dict[str, float]:
    """The metrics of the runs of ``experiment``, by name."""
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return {key: value for run in runs for key, value in run.data.metrics.items()}


def run_steps(
    folder: Path,
    raw: pd.DataFrame | Path,
    roles: ColumnRoles,
    *,
    evaluated: bool = True,
    evaluate_args: tuple[str, ...] = (),
) -> dict[str, Path]:
    """prep, train (20 iterations) and, if ``evaluated``, evaluate (with
    ``evaluate_args`` too) on ``raw`` (a table, or a CSV file), each asserted to
    succeed; returns their folders by name: train, test, model, metrics,
    explanations."""
    if isinstance(raw, pd.DataFrame):
        raw.to_csv(folder / "raw.csv", index=False)
        raw = folder / "raw.csv"
    columns = folder / "columns.json"
    columns.write_text(json.dumps(roles.to_dict()))
    names = ("train", "test", "model", "metrics", "explanations")
    folders = {name: folder / name for name in names}
    folders["model"].mkdir()  # Azure ML mounts the output folder before the step starts
    splits = ["--train-data", str(folders["train"]), "--test-data", str(folders["test"])]
    assert prep.main(["--raw-data", str(raw), "--columns", str(columns), *splits]) == 0
    trained = ["--train-data", str(folders["train"]), "--columns", str(columns)]
    assert train.main([*trained, "--max-iter", "20", "--model-output", str(folders["model"])]) == 0
    if evaluated:
        scored = ["--model", str(folders["model"]), "--test-data", str(folders["test"])]
        outputs = ["--metrics-output", str(folders["metrics"])]
        outputs += ["--explanations-output", str(folders["explanations"])]
        assert evaluate.main([*scored, *outputs, *evaluate_args]) == 0
    return folders


def written(folder: Path, name: str):
    """The JSON file ``name`` in ``folder``."""
    return json.loads((folder / name).read_text())
