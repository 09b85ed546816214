"""A model of a kind other than the sample's, through the whole main job on the
Azure target: the repository's regression model (diabetes-progression), its
job's outputs those of a real local run, its deployments answering with the
real scoring script.
"""

from __future__ import annotations

import json

from mlops import lifecycle
from mlops.targets.base import GATE_TAG
from mlops.task import TASK_TAG

REGRESSION_METRICS = ("rmse", "mae", "r2", "mape", "mae_difference")
# The header naming the deployment a scoring request goes to.
_DEPLOYMENT = "azureml-model-deployment"


def test_a_regression_model_is_trained_gated_registered_and_served_then_kept_as_champion(
    regression_workspace, regression_run
):
    workspace = regression_workspace
    target = workspace.target()

    first = lifecycle.run(target, workspace.settings, lambda line: None)

    assert first.run.status == "Completed", first.run.error
    assert first.decision.promote, [c.reason for c in first.decision.failed()]
    # The job is the model's own pipeline (its training parameters), in its experiment.
    (submit,) = workspace.sent("PUT", r"/jobs/[^/]+$")
    job = submit.body["properties"]
    assert job["experimentName"] == "diabetes-progression"
    assert job["jobs"]["train"]["inputs"]["max_iter"]["value"] == "150"
    # The version carries the regression metrics the job measured, and its task.
    tags = first.model.tags
    measured = regression_run.run.metrics
    assert {name: float(tags[f"metric.{name}"]) for name in REGRESSION_METRICS} == {
        name: measured[name] for name in REGRESSION_METRICS
    }
    assert not any(f"metric.{name}" in tags for name in ("auc", "log_loss", "accuracy"))
    assert json.loads(tags[TASK_TAG])["kind"] == "regression"
    assert json.loads(tags[TASK_TAG])["target_column"] == "progression"
    (put_model, tagged) = workspace.sent("PUT", r"/models/[^/]+/versions/[^/]+$")
    assert put_model.body["properties"]["tags"][TASK_TAG] == tags[TASK_TAG]
    assert "mlops.deployed_at" in tagged.body["properties"]["tags"]
    # One deployment, of this version, that took all the traffic after a smoke
    # test whose rows it answered with a number each.
    deployment = first.deployed.deployment
    (created,) = workspace.sent("PUT", r"/onlineEndpoints/[^/]+/deployments/[^/]+$")
    assert created.path.endswith(f"/deployments/{deployment}")
    assert created.body["properties"]["model"].endswith(
        f"/models/{first.model.name}/versions/{first.model.version}"
    )
    (_, *updates) = workspace.sent("PUT", r"/onlineEndpoints/[^/]+$")
    assert updates[-1].body["properties"]["traffic"] == {deployment: 100}
    assert target.get_endpoint().traffic == {deployment: 100}
    smoke = [r for r in workspace.sent("POST", r"^/score$") if r.headers.get(_DEPLOYMENT)]
    assert smoke and {r.headers[_DEPLOYMENT] for r in smoke} == {deployment}
    # What a caller gets for the sample request the deploy left: a number per row.
    sample = lifecycle.sample_request(workspace.settings).read_bytes()
    status, body = target.invoke(sample)
    assert status == 200, body
    rows = json.loads(sample)["input_data"]["data"]
    answer = json.loads(body)
    assert set(answer) == {"predictions"}
    predictions = answer["predictions"]
    assert len(predictions) == len(rows) >= 1
    assert all(isinstance(p, float) for p in predictions)

    before = len(workspace.fake.requests)
    second = lifecycle.run(target, workspace.settings, lambda line: None)

    # The same data, the same model: not better than the champion by rmse's
    # relative improvement rule, so registered as rejected and never deployed.
    assert second.run.status == "Completed", second.run.error
    assert second.run.run_id != first.run.run_id
    assert not second.decision.promote
    assert second.decision.champion_version == first.model.version
    (failed,) = second.decision.failed()
    assert (failed.kind, failed.metric, failed.threshold) == (
        "improvement",
        "rmse",
        "<= champion - 0.5%",
    )
    assert failed.champion == measured["rmse"]
    assert second.deployed is None
    assert second.model.version != first.model.version
    assert second.model.tags[GATE_TAG] == "reject"
    assert second.model.tags["mlops.gate_failed"] == "rmse"
    changed = [
        r
        for r in workspace.fake.requests[before:]
        if r.method in ("PUT", "DELETE") and "/onlineEndpoints/" in r.path
    ]
    assert not changed
    assert target.get_endpoint().traffic == {deployment: 100}
