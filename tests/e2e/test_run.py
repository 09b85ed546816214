"""The main job, as a user runs it: `mlops run` twice on a fresh project."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

MLOPS = str(Path(sys.executable).parent / "mlops")


def mlops(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MLOPS, *args], cwd=project, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    import shutil

    from tests.conftest import REPO, sample_frame, write_settings

    project = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "pipelines", project / "pipelines")
    shutil.copytree(REPO / "environments", project / "environments")
    (project / "data").mkdir()
    sample_frame().to_csv(project / "data" / "credit.csv", index=False)
    write_settings(project, data={"path": "data/credit.csv"})
    first = mlops(project, "run")
    second = mlops(project, "run")
    return project, first, second


def test_both_runs_succeed_and_print_the_metrics(two_runs):
    _, first, second = two_runs
    for result in (first, second):
        assert result.returncode == 0, result.stdout + result.stderr
        for metric in ("auc", "demographic_parity_difference", "equalized_odds_difference"):
            assert f"\n{metric} " in result.stdout
        assert "[3/3] evaluate completed" in result.stdout


def test_the_data_is_registered_once(two_runs):
    project, first, second = two_runs
    assert " registered (3000 rows" in first.stdout
    assert " already registered (3000 rows" in second.stdout
    assert len(list((project / ".mlops" / "data" / "credit-default").glob("*/asset.json"))) == 1


def test_two_runs_are_recorded_with_metrics_and_an_mlflow_model(two_runs):
    project, *_ = two_runs
    listing = mlops(project, "runs")
    assert listing.returncode == 0
    records = [json.loads(p.read_text()) for p in (project / ".mlops" / "runs").glob("*/run.json")]
    assert len(records) == 2
    assert {r["data_asset"] for r in records} == {records[0]["data_asset"]}
    for record in records:
        assert record["status"] == "Completed"
        assert record["run_id"] in listing.stdout
        assert 0.6 < record["metrics"]["auc"] < 1.0
        assert (Path(record["outputs"]["model"]) / "MLmodel").is_file()
    # Same data, same seed: the same model quality.
    assert records[0]["metrics"] == records[1]["metrics"]


def test_mlflow_holds_a_parent_run_per_pipeline_run_with_a_child_per_step(two_runs):
    project, *_ = two_runs
    client = MlflowClient(f"sqlite:///{project / '.mlops' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("credit-default")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 2
    for parent in parents:
        assert parent.info.status == "FINISHED"
        assert "auc" in parent.data.metrics
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert sorted(c.info.run_name for c in children) == ["evaluate", "prep", "train"]
        by_name = {c.info.run_name: c for c in children}
        assert by_name["evaluate"].data.metrics["auc"] == parent.data.metrics["auc"]
        assert "learning_rate" in by_name["train"].data.params


def test_show_latest_lists_steps_outputs_and_metrics(two_runs):
    project, *_ = two_runs
    shown = mlops(project, "show", "latest")
    assert shown.returncode == 0
    for text in ("prep", "train", "evaluate", "model", "metrics", "auc"):
        assert text in shown.stdout
