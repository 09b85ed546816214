"""monitor.yml closes the loop, run here step by step on a fork whose local
environments stand in for the workspaces: traffic like the training data
retrains nothing; traffic with two features shifted breaches on those two in
dev, which retrains the model through the merge path, its new version tagged
with the trigger and the report, and the gate still decides (the same data
again gives no better model: the champion keeps serving)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops import audit_trail
from tests.conftest import edit_model, make_project, stop_endpoints
from tests.e2e.test_monitor import SHIFTED, held_out_rows, send
from tests.e2e.test_run import mlops
from tests.github.fork import as_fork, environments_runner
from tests.github.workflows import workflows

MODEL = "credit-default"
DEV = Path(".mlops") / "envs" / "dev" / "models" / MODEL


@pytest.fixture
def project(tmp_path):
    """A one-model fork serving its first version in dev, monitored from 100 rows."""
    root = make_project(tmp_path / "project")
    edit_model(
        root,
        monitor={
            "min_rows": 100,
            "feature_types": {"LIMIT_BAL": "numerical", "AGE": "numerical"},
            # As in tests/e2e/test_monitor.py: 600 test rows are noisier than Azure's days.
            "data_drift": {"categorical": {"jensen_shannon_distance": 0.15}},
        },
    )
    as_fork(root, [MODEL], "One model, monitored")
    deployed = mlops(root, "--env", "dev", "run")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    yield root
    stop_endpoints(root)


def output(runner) -> str:
    return "\n".join(out for _, result in runner.log for _, _, out in result.steps)


def test_a_breach_retrains_through_the_merge_path_and_no_breach_runs_nothing(project, tmp_path):
    runner = environments_runner(project, tmp_path / "runner")
    monitor_yml = workflows()["monitor.yml"]
    port = json.loads((project / DEV / "endpoints" / MODEL / "endpoint.json").read_text())["port"]
    rows = held_out_rows(project, DEV)
    send(project, port, rows, DEV)

    # Traffic like the training data: each environment is judged (staging and prod
    # serve nothing yet), nothing breaches, nothing is retrained.
    jobs = runner.run_workflow(monitor_yml, event="schedule")

    shown = output(runner)
    legs = jobs["monitor"].legs
    assert {name: leg.result for name, leg in legs.items()} == {
        f"{MODEL}, {env}": "success" for env in ("dev", "staging", "prod")
    }, shown
    assert "monitor: no breach" in legs[f"{MODEL}, dev"].summary + shown
    assert "nothing to judge: no deployment of endpoint credit-default serves" in shown
    assert jobs["breached"].outputs["models"] == "[]", shown
    assert jobs["retrain"].result == "skipped"
    assert [v.version for v in dev_target(project).list_models()] == ["1"]

    # Shifted traffic on top: dev breaches on exactly the shifted features, and the
    # model is retrained in dev through model-path.yml.
    shifted = rows.assign(**{name: change(rows[name]) for name, change in SHIFTED.items()})
    send(project, port, shifted, DEV)
    runner.log.clear()
    jobs = runner.run_workflow(monitor_yml, event="schedule")

    shown = output(runner)
    assert "monitor: BREACH on AGE, LIMIT_BAL" in shown
    assert jobs["breached"].outputs["models"] == f'["{MODEL}"]', shown
    (path,) = jobs["retrain"].legs.values()
    assert path.result == "success", shown
    dev = path.jobs["dev"].jobs["dev"]
    # The gate decided, as on a merge: no better than the champion, nothing promoted.
    assert "registered, not deployed: the gate rejected it" in shown
    assert path.jobs["dev"].outputs["registry-model"] == ""
    assert path.jobs["staging"].result == path.jobs["prod"].result == "skipped"
    assert "REJECT" in dev.summary
    target = dev_target(project)
    newest, champion = target.list_models()
    assert target.get_endpoint().serving().model == champion.ref == "credit-default-classifier:1"
    # The new version says why it was trained, and its run holds the report.
    assert newest.tags["mlops.trigger"] == "drift"
    # The audit trail has the retrain (and no deploy: what serves did not change).
    last = audit_trail.read(target.audit).events[-1]
    assert (last["action"], last["version"]) == ("retrain", newest.ref)
    assert last["why"].startswith("drift: dev blue (") and last["why"].endswith("gate: reject")
    assert newest.tags["mlops.trigger_report"].startswith(
        "dev blue (credit-default-classifier:1): breach on AGE, LIMIT_BAL in "
    )
    run = target.get_run(newest.run_id)
    client = MlflowClient(f"sqlite:///{project / DEV}/mlflow.db")
    attached = {item.path for item in client.list_artifacts(run.tracking_run_id, "drift/dev")}
    assert "drift/dev/monitor.json" in attached
    report = json.loads(
        Path(client.download_artifacts(run.tracking_run_id, "drift/dev/monitor.json")).read_text()
    )
    assert (report["model_folder"], report["environment"]) == (MODEL, "dev")
    assert report["breached_features"] == ["AGE", "LIMIT_BAL"]


def dev_target(root):
    from mlops.settings import load_settings
    from mlops.targets import get_target

    return get_target(load_settings(root / "mlops.yml", env="dev", model=MODEL))
