"""`mlops monitor` on the Azure target: what the data collector wrote to the
workspace's blob store (Azurite), read and judged by the same code as locally,
the report kept beside the runs."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from mlops import lifecycle
from mlops.errors import UserError
from mlops.monitoring.monitor import describe, monitor
from mlops.monitoring.schedule import point_schedule
from mlops.settings import load_settings
from mlops.targets.azure import AzureTarget
from tests.conftest import edit_model
from tests.mlops.targets.azure.conftest import outputs_measuring
from tests.mlops.targets.azure.fake_azureml import JobOutcome

SHIFTED = {"LIMIT_BAL": lambda v: v * 3, "AGE": lambda v: v + 15}


def record(collection: str, when: datetime, rows: list[dict], deployment: str) -> str:
    """One line as Azure ML's data collector writes it."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"/subscriptions/x/onlineEndpoints/credit-default/deployments/{deployment}",
            "type": f"azureml.inference.{collection}",
            "datacontenttype": "application/json",
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": rows,
            "correlationid": str(uuid.uuid4()),
        }
    )


def collect(workspace, deployment: str, when: datetime, inputs: pd.DataFrame, answers) -> None:
    """Write ``inputs`` and ``answers`` to the blob store as the collector does: one
    file per collection and hour, 50 rows a call."""
    container = workspace.fake.blob_service.get_container_client(workspace.fake.container)
    for collection, table in (("model_inputs", inputs), ("model_outputs", answers)):
        lines = [
            record(collection, when, table.iloc[i : i + 50].to_dict("records"), deployment)
            for i in range(0, len(table), 50)
        ]
        hour = when.strftime("%Y/%m/%d/%H")
        name = f"modelDataCollector/credit-default/{deployment}/{collection}/{hour}/0.jsonl"
        container.upload_blob(name, "\n".join(lines) + "\n", overwrite=True)


def scheduled(workspace, schedule: dict):
    """(settings, target) of the workspace's model with ``monitor.schedule`` set."""
    edit_model(workspace.project, workspace.settings.model_id, monitor={"schedule": schedule})
    settings = load_settings(workspace.project / "mlops.yml", model=workspace.settings.model_id)
    target = AzureTarget(
        settings, credential=workspace.credential, transport=workspace.fake,
        environ=workspace.environ,
    )  # fmt: skip
    return settings, target


def test_monitor_reads_what_the_collector_wrote_to_the_blob_store(workspace, local_run):
    target = workspace.target()
    outcome = lifecycle.run(target, workspace.settings, lambda line: None)
    deployment = outcome.deployed.deployment
    (test_file,) = local_run.outputs["test_data"].glob("*.parquet")
    rows = pd.read_parquet(test_file).drop(columns=["default_payment_next_month", "SEX"])
    shifted = rows.assign(**{name: change(rows[name]) for name, change in SHIFTED.items()})
    answers = pd.read_parquet(local_run.outputs["metrics"] / "answers.parquet")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    collect(workspace, deployment, hour_ago, shifted, answers)
    # An hour outside the window is never downloaded.
    collect(workspace, deployment, hour_ago - timedelta(days=2), rows, answers)

    monitored = monitor(target, workspace.settings, since=hour_ago - timedelta(minutes=1))

    report = monitored.report
    assert monitored.deployment == deployment and monitored.model == outcome.model.ref
    assert report.production_rows == len(rows)
    assert report.breached_features == ["AGE", "LIMIT_BAL"]
    assert any(m.signal == "prediction_drift" and not m.breach for m in report.measured)
    cached = target.cache / "collected" / "credit-default" / deployment
    assert sorted(p.relative_to(cached).parts[0] for p in cached.rglob("*.jsonl")) == [
        "model_inputs",
        "model_outputs",
    ]
    # The report is kept in the workspace's blob store beside the runs.
    container = workspace.fake.blob_service.get_container_client(workspace.fake.container)
    kept = {b.name for b in container.list_blobs(name_starts_with="mlops/reports/")}
    prefix = f"mlops/reports/{monitored.folder.name}/"
    assert {prefix + "monitor.json", prefix + "monitor.md", prefix + "monitor.png"} <= kept
    assert monitored.tracking_run_id is None


def read_blob_parquet(container, name: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(container.download_blob(name).readall()))


def test_nothing_collected_yet_is_nothing_to_judge(workspace):
    target = workspace.target()
    lifecycle.run(target, workspace.settings, lambda line: None)

    monitored = monitor(target, workspace.settings)

    assert monitored.report.nothing_judged.startswith("nothing collected from deployment ")
    assert not monitored.report.breached
    assert monitored.scheduled_run is None  # no schedule, so no run of one
    assert "monitor schedule" not in describe(monitored)


def test_the_monitor_schedule_carries_the_settings_and_follows_each_deploy(
    workspace, local_run, tmp_path
):
    schedule = {"enabled": True, "time": "06:30", "emails": ["ml@x.org"]}
    settings, target = scheduled(workspace, schedule)
    printed = []

    first = lifecycle.run(target, settings, printed.append)

    (put,) = workspace.sent("PUT", r"/schedules/credit-default-monitor$")
    body = put.body["properties"]
    monitor = body["action"]["monitorDefinition"]
    assert body["action"]["actionType"] == "CreateMonitor"
    assert body["trigger"]["triggerType"] == "Recurrence"
    assert body["trigger"]["frequency"].lower() == "day"
    assert body["trigger"]["schedule"] == {"hours": [6], "minutes": [30]}
    target_id = monitor["monitoringTarget"]["deploymentId"]
    assert target_id.endswith(
        f"/onlineEndpoints/credit-default/deployments/{first.deployed.deployment}"
    )
    assert monitor["monitoringTarget"]["taskType"].lower() == "classification"
    assert monitor["computeConfiguration"]["instanceType"] == "standard_e4s_v3"
    signals = monitor["signals"]
    assert {name: s["signalType"] for name, s in signals.items()} == {
        "data-drift": "DataDrift",
        "prediction-drift": "PredictionDrift",
        "data-quality": "DataQuality",
    }
    # The model's own thresholds by feature type (metric names as the SDK writes them).
    drift = signals["data-drift"]
    assert sorted((t["dataType"], t["metric"], t["threshold"]["value"])
                  for t in drift["metricThresholds"]) == [
        ("Categorical", "jensenShannonDistance", 0.1),
        ("Numerical", "normalizedWassersteinDistance", 0.1),
    ]  # fmt: skip
    assert drift["featureDataTypeOverride"] == {"LIMIT_BAL": "numerical", "AGE": "numerical"}
    assert drift["features"]["filterType"] == "FeatureSubset"
    assert (
        "SEX" not in drift["features"]["features"] and "LIMIT_BAL" in drift["features"]["features"]
    )
    quality = {(t["dataType"], t["metric"]): t["threshold"]["value"]
               for t in signals["data-quality"]["metricThresholds"]}  # fmt: skip
    assert quality[("Numerical", "nullValueRate")] == 0.05
    # Production: what the deployment's data collector writes; baselines: the version's.
    production = drift["productionData"]["uri"]
    assert production.endswith(
        f"/data/credit-default-{first.deployed.deployment}-model_inputs/versions/1"
    )
    assert drift["referenceData"]["uri"].endswith(
        "/data/credit-default-classifier-monitor-features/versions/1"
    )
    answers = signals["prediction-drift"]["referenceData"]
    assert answers["uri"].endswith("/data/credit-default-classifier-monitor-answers/versions/1")
    assert answers["jobInputType"] == "mltable"
    alert = monitor["alertNotificationSetting"]
    assert alert["alertNotificationType"] == "Email"
    assert alert["emailNotificationSetting"]["emails"] == ["ml@x.org"]
    # The baselines: MLTables over the version's training features and test answers.
    container = workspace.fake.blob_service.get_container_client(workspace.fake.container)
    uploaded = {
        blob.name.removeprefix("mlops/baselines/credit-default-classifier/1/"): blob.name
        for blob in container.list_blobs(name_starts_with="mlops/baselines/")
    }
    assert sorted(uploaded) == [
        "answers/MLTable",
        "answers/answers.parquet",
        "features/MLTable",
        "features/features.parquet",
    ]
    mltable = container.download_blob(uploaded["features/MLTable"]).readall().decode()
    assert "- file: ./features.parquet" in mltable and "read_parquet" in mltable
    features = read_blob_parquet(container, uploaded["features/features.parquet"])
    (train_file,) = local_run.outputs["train_data"].glob("*.parquet")
    trained = pd.read_parquet(train_file)
    assert (
        len(features) == len(trained)
        and "SEX" not in features
        and "default_payment_next_month" not in features
    )
    pd.testing.assert_frame_equal(features, trained[list(features.columns)])
    answers = read_blob_parquet(container, uploaded["answers/answers.parquet"])
    expected = pd.read_parquet(local_run.outputs["metrics"] / "answers.parquet")
    assert answers["prediction"].tolist() == expected["prediction"].tolist()
    assert any(line.startswith("monitor schedule credit-default-monitor: deployment ")
               for line in printed)  # fmt: skip

    # A better model takes the traffic on a new deployment: the schedule follows it.
    better = outputs_measuring(local_run, tmp_path, first.run.metrics["auc"] + 0.01)
    workspace.fake.executor = lambda name, body: JobOutcome(outputs=better)
    second = lifecycle.run(target, settings, printed.append)

    assert second.deployed.deployment != first.deployed.deployment
    latest = workspace.fake.schedules["credit-default-monitor"]["properties"]
    deployment = latest["action"]["monitorDefinition"]["monitoringTarget"]["deploymentId"]
    assert deployment.endswith(f"/deployments/{second.deployed.deployment}")
    reference = latest["action"]["monitorDefinition"]["signals"]["data-drift"]["referenceData"]
    assert reference["uri"].endswith("/data/credit-default-classifier-monitor-features/versions/2")


def test_the_monitor_shows_the_newest_run_of_azures_own_monitor_beside_its_report(workspace):
    settings, target = scheduled(workspace, {"enabled": True, "time": "06:30"})
    lifecycle.run(target, settings, lambda line: None)
    now = datetime.now(UTC).replace(microsecond=0)
    fake = workspace.fake
    # Listed newest first by the fake; the older one comes last, the newer one first.
    fake.run_schedule("credit-default-monitor", "Completed", now - timedelta(hours=1))
    fake.run_schedule("credit-default-monitor", "Failed", now - timedelta(days=1))

    monitored = monitor(target, settings)

    run = monitored.scheduled_run
    assert (run.schedule, run.status, run.created) == (
        "credit-default-monitor",
        "Completed",
        now - timedelta(hours=1),
    )
    assert run.name in run.url and run.url.startswith("https://ml.azure.com/runs/")
    listed = [r for r in workspace.sent("GET", r"/jobs$") if "scheduleId" in r.query]
    assert [r.query["scheduleId"] for r in listed] == ["credit-default-monitor"]
    shown = describe(monitored)
    assert f"latest run of monitor schedule credit-default-monitor: {run.name}, Completed" in shown
    kept = json.loads((monitored.folder / "monitor.json").read_text())
    assert kept["scheduled_run"]["status"] == "Completed"
    assert kept["scheduled_run"]["name"] == run.name
    assert "Latest run of monitor schedule" in (monitored.folder / "monitor.md").read_text()


def test_monitor_enable_on_the_local_target_says_what_runs_there(local_run):
    with pytest.raises(UserError, match="the local target runs no monitor of its own"):
        point_schedule(local_run.target, local_run.settings, lambda line: None)
