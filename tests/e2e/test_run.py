"""The main job, as a user runs it: `mlops run` twice on a fresh project (the second
reuses the first's steps, as Azure ML reuses pipeline nodes)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests import readme_sample
from tests.conftest import STATE, make_project, stop_endpoints

MLOPS = str(Path(sys.executable).parent / "mlops")


def mlops(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MLOPS, *args], cwd=project, capture_output=True, text=True, timeout=600, check=False
    )


def in_process(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`mlops ARGS` in this process, as ``mlops`` returns it: where what is checked
    is what a verb says, not the console script's start-up (a few seconds of
    imports, which each module's own `mlops run` goes through)."""
    from tests.mlops.test_fail_closed import cli

    code, out, err = cli(project / "mlops.yml", *args)
    return subprocess.CompletedProcess(["mlops", *args], code, out, err)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("project"))
    try:
        first = mlops(project, "run")
        second = mlops(project, "run")
        yield project, first, second
    finally:
        stop_endpoints(project)


def test_both_runs_succeed_and_print_the_metrics(two_runs):
    _, first, second = two_runs
    for result in (first, second):
        assert result.returncode == 0, result.stdout + result.stderr
        for metric in ("auc", "demographic_parity_difference", "equalized_odds_difference"):
            assert f"\n{metric} " in result.stdout
        assert "[3/3] evaluate " in result.stdout
        # A count is shown as the whole number it is.
        assert re.search(r"\ntest_rows +\d+\n", result.stdout)
    assert re.search(r"test_rows=\d+( |$)", first.stdout, re.MULTILINE)  # evaluate's own line


def test_the_data_is_registered_once(two_runs):
    project, first, second = two_runs
    assert " registered (3000 rows" in first.stdout
    assert " already registered (3000 rows" in second.stdout
    assert len(list((project / STATE / "data" / "credit-default").glob("*/asset.json"))) == 1


def test_two_runs_are_recorded_with_metrics_and_an_mlflow_model(two_runs):
    project, *_ = two_runs
    listing = mlops(project, "runs")
    assert listing.returncode == 0
    records = [json.loads(p.read_text()) for p in (project / STATE / "runs").glob("*/run.json")]
    assert len(records) == 2
    assert {r["data_asset"] for r in records} == {records[0]["data_asset"]}
    for record in records:
        assert record["status"] == "Completed"
        assert record["run_id"] in listing.stdout
        assert 0.6 < record["metrics"]["auc"] < 1.0
        # Named relative to the run store, so the state folder can move.
        model = project / STATE / "runs" / record["outputs"]["model"]
        assert not Path(record["outputs"]["model"]).is_absolute()
        assert (model / "MLmodel").is_file()
    # Same data, same seed: the same model quality.
    assert records[0]["metrics"] == records[1]["metrics"]


def test_the_second_run_reuses_every_step_of_the_first(two_runs):
    _, first, second = two_runs
    (first_id,) = re.findall(r"^run (\S+) on data ", first.stdout, re.MULTILINE)
    for number, step in enumerate(("prep", "train", "evaluate"), start=1):
        assert f"[{number}/3] {step} completed in " in first.stdout
        assert f"[{number}/3] {step} reused the outputs of run {first_id} (" in second.stdout
    assert "  train | " not in second.stdout  # no step process ran
    assert re.search(rf"^train +Completed +0\.0 +{first_id}$", second.stdout, re.MULTILINE)


def test_mlflow_holds_a_parent_run_per_pipeline_run_with_a_child_per_step(two_runs):
    project, *_ = two_runs
    client = MlflowClient(f"sqlite:///{project / STATE / 'mlflow.db'}")
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
        # A reused step's run carries what the run it reused logged.
        assert "learning_rate" in by_name["train"].data.params
    reused = [r for r in runs if "mlops.reused_from" in r.data.tags]
    assert sorted(r.info.run_name for r in reused) == ["evaluate", "prep", "train"]


def test_show_latest_lists_steps_outputs_and_metrics(two_runs):
    project, *_ = two_runs
    shown = mlops(project, "show", "latest")
    assert shown.returncode == 0
    for text in ("prep", "train", "evaluate", "model", "metrics", "auc"):
        assert text in shown.stdout


def test_the_first_run_promotes_deploys_and_prints_a_curl_line_that_works(two_runs):
    project, first, _ = two_runs
    assert "model credit-default-classifier:1 registered; gate: promote" in first.stdout
    assert "deployed credit-default-classifier:1 to deployment blue" in first.stdout
    # MLflow's name for the model in production follows the endpoint.
    store = f"sqlite:///{project / STATE / 'mlflow.db'}"
    client = MlflowClient(store, registry_uri=store)
    assert client.get_model_version_by_alias("credit-default-classifier", "champion").version == 1
    (curl,) = [line for line in first.stdout.splitlines() if line.startswith("try it:")]
    answered = subprocess.run(
        curl.removeprefix("try it:").strip(),
        shell=True,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(answered.stdout)
    assert len(answer["probabilities"]) == 2
    assert all(0.0 <= p <= 1.0 for p in answer["probabilities"])


def test_the_second_run_is_registered_but_does_not_replace_the_champion(two_runs):
    project, _, second = two_runs
    # Same data, same code, same seed: no better than the serving model.
    assert "model credit-default-classifier:2 registered; gate: reject" in second.stdout
    assert "gate: REJECT (against champion 1)" in second.stdout
    assert "not higher by 0.001" in second.stdout
    assert "the endpoint keeps serving its champion" in second.stdout
    shown = mlops(project, "endpoint", "show")
    assert "credit-default-classifier:1  100 %" in shown.stdout
    assert "credit-default-classifier:2" not in shown.stdout
    models = mlops(project, "models", "versions")
    assert [line.split()[:2] for line in models.stdout.splitlines()[2:]] == [
        ["2", "reject"],
        ["1", "promote"],
    ]
    assert models.stdout.splitlines()[3].rstrip().endswith("serving")
    store = f"sqlite:///{project / STATE / 'mlflow.db'}"
    client = MlflowClient(store, registry_uri=store)
    assert client.get_model_version_by_alias("credit-default-classifier", "champion").version == 1


def test_every_model_version_carries_its_lineage(two_runs):
    project, *_ = two_runs
    store = f"sqlite:///{project / STATE / 'mlflow.db'}"
    client = MlflowClient(store, registry_uri=store)
    runs = {json.loads(p.read_text())["run_id"] for p in (project / STATE).glob("runs/*/run.json")}
    versions = client.search_model_versions("name = 'credit-default-classifier'")
    assert {v.tags["mlops.run_id"] for v in versions} == runs
    for version in versions:
        tags = version.tags
        assert tags["mlops.data_asset"].startswith("credit-default:")
        assert tags["mlops.git_commit"]  # a commit hash, or "unknown" outside a git tree
        assert tags["mlops.git_dirty"] in {"true", "false", "unknown"}
        assert float(tags["metric.auc"]) > 0.6
        assert tags["mlops.gate"] in {"promote", "reject"}


def test_each_run_leaves_a_gate_report_for_ci(two_runs):
    project, *_ = two_runs
    folders = list((project / STATE).glob("reports/*"))
    assert len(folders) == 2  # one per run
    for folder in folders:
        report = json.loads((folder / "gate.json").read_text())
        assert report["verdict"] in {"promote", "reject"}
        assert "| improvement | auc | higher |" in (folder / "gate.md").read_text()
        assert (folder / "gate.png").read_bytes().startswith(b"\x89PNG")
    # What each model relies on: the first run has no champion, the second the first's
    # model (the same, its steps reused), so the same top features on both sides.
    documents = {json.loads((f / "gate.json").read_text())["champion"] is None: f for f in folders}
    first, second = documents[True], documents[False]
    assert json.loads((first / "gate.json").read_text())["top_features"]["champion"] is None
    top = json.loads((second / "gate.json").read_text())["top_features"]
    assert len(top["candidate"]) == 5 and top["candidate"] == top["champion"]
    means = [entry["mean"] for entry in top["candidate"]]
    assert means == sorted(means, reverse=True) and means[0] > 0
    shown = (second / "gate.md").read_text()
    assert "| # | candidate | importance | champion v1 | importance |" in shown
    assert f"| 1 | {top['candidate'][0]['feature']} | " in shown


def test_the_readmes_sample_output_is_what_the_two_runs_print(two_runs):
    _, first, second = two_runs
    readme = readme_sample.README.read_text(encoding="utf-8")
    shown = readme_sample.block(readme, "first-run")
    assert readme_sample.shape(shown) == readme_sample.shape(first.stdout.lstrip("\n")), (
        "README.md's first-run block is stale: run `.venv/bin/python -m tests.readme_sample`"
    )
    again = readme_sample.block(readme, "second-run")
    assert readme_sample.shape(again) == readme_sample.shape(
        readme_sample.second_run_lines(second.stdout)
    )
