"""`mlops monitor` on the Azure target: what the data collector wrote to the
workspace's blob store (Azurite), read and judged by the same code as locally,
the report kept beside the runs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd

from mlops import lifecycle
from mlops.monitoring.monitor import monitor

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


def test_nothing_collected_yet_is_nothing_to_judge(workspace):
    target = workspace.target()
    lifecycle.run(target, workspace.settings, lambda line: None)

    monitored = monitor(target, workspace.settings)

    assert monitored.report.nothing_judged.startswith("nothing collected from deployment ")
    assert not monitored.report.breached
