"""Every verb on the Azure target, through azure-ai-ml against the offline workspace.

The assertions are on what a user sees (outcomes, messages, exit states) and on
the requests the SDK sent, as Azure would receive them.
"""

from __future__ import annotations

import json

import pytest

from mlops import audit_trail, lifecycle, summary
from mlops.data_checks import DataError
from mlops.lineage import model_digest
from mlops.settings import SettingsError
from mlops.targets.azure import AzureTarget
from mlops.targets.azure.storage import StorageError
from mlops.targets.base import DEPLOYED_TAG, DIGEST_TAG, RUN_TAG, DeploymentError, RunNotFound
from mlops.targets.local import LocalTarget
from tests.mlops.targets.azure.conftest import ENVIRON, outputs_measuring
from tests.mlops.targets.azure.fake_azureml import JobOutcome


def lines():
    printed: list[str] = []
    return printed, printed.append


def test_the_main_job_trains_gates_registers_and_deploys_on_the_workspace(workspace):
    target = workspace.target()
    printed, show = lines()

    outcome = lifecycle.run(target, workspace.settings, show)

    assert outcome.run.status == "Completed", outcome.run.error
    assert outcome.decision.promote
    asset = outcome.asset
    # The job is the pipeline YAML with mlops's bindings, on the cluster named by the environment.
    (submit,) = workspace.sent("PUT", r"/jobs/[^/]+$")
    job = submit.body["properties"]
    assert job["inputs"]["raw_data"]["uri"].endswith(f"/data/{asset.name}/versions/{asset.version}")
    assert job["inputs"]["columns"]["jobInputType"] == "uri_file"
    assert job["inputs"]["test_size"]["value"] == "0.2"
    assert job["settings"]["default_compute"].endswith("/computes/cpu-cluster")
    assert job["experimentName"] == workspace.settings.pipeline.experiment_name
    assert job["tags"]["mlops.data_asset"] == asset.ref
    assert {"prep", "train", "evaluate"} <= set(job["jobs"])
    # Azure stops a step after azure.job_timeout_minutes (120 by default).
    assert {job["jobs"][step]["limits"]["timeout"] for step in job["jobs"]} == {"PT2H"}
    # Every output is written where mlops reads it even when the SDK cannot.
    run_id = outcome.run.run_id
    assert job["outputs"]["model"]["uri"] == (
        f"azureml://datastores/workspaceblobstore/paths/mlops/runs/{run_id}/model/"
    )
    assert "mlops.git_commit" in job["tags"]
    assert any(line.startswith("[2/3] train completed in ") for line in printed)
    # The model version carries its lineage; its digest is of the files the job wrote.
    model = outcome.model
    assert model.tags[RUN_TAG] == outcome.run.run_id
    assert model.tags[DIGEST_TAG] == model_digest(target.output_path(outcome.run, "model"))
    # Registered, then tagged as deployed once it took the traffic.
    put_model, tagged = workspace.sent("PUT", r"/models/[^/]+/versions/[^/]+$")
    assert "mlops.deployed_at" in tagged.body["properties"]["tags"]
    assert put_model.body["properties"]["modelType"] == "mlflow_model"
    assert put_model.body["properties"]["modelUri"].startswith("azureml://jobs/")
    # The deployment collects what it serves: the deployment file's collections, at
    # the share the model's settings name (the mode in lower case, as azure-ai-ml
    # 1.35.2 sends it).
    (created,) = workspace.sent("PUT", r"/onlineEndpoints/[^/]+/deployments/[^/]+$")
    collections = created.body["properties"]["dataCollector"]["collections"]
    assert {
        name: (c["dataCollectionMode"], c["samplingRate"]) for name, c in collections.items()
    } == {
        "model_inputs": ("enabled", 0.25),
        "model_outputs": ("enabled", 0.25),
    }
    # One endpoint with token auth; the new deployment took all traffic after its smoke test.
    (create_endpoint, *updates) = workspace.sent("PUT", r"/onlineEndpoints/[^/]+$")
    assert create_endpoint.body["properties"]["authMode"] == "AADToken"
    assert updates[-1].body["properties"]["traffic"] == {outcome.deployed.deployment: 100}
    endpoint = target.get_endpoint()
    assert endpoint.traffic == {outcome.deployed.deployment: 100}
    assert endpoint.serving().model == model.ref
    smoke = [
        r
        for r in workspace.fake.requests
        if r.method == "POST" and r.headers.get("azureml-model-deployment")
    ]
    assert smoke and all(
        r.headers["azureml-model-deployment"] == outcome.deployed.deployment for r in smoke
    )
    assert not workspace.fake.slept or max(workspace.fake.slept) == 0
    # What the user reads: the studio link while it runs, and how to call the endpoint.
    assert any(line.startswith("studio: https://") for line in printed)
    text = summary.describe_outcome(outcome, lifecycle.sample_request(workspace.settings))
    assert (
        '-H "Authorization: Bearer $(az account get-access-token --resource '
        'https://ml.azure.com --query accessToken -o tsv)"' in text
    )
    assert f"endpoint: {endpoint.scoring_uri}" in text


def test_the_same_bytes_registered_again_cost_one_get(workspace):
    target = workspace.target()
    first = lifecycle.register_data(target, workspace.settings)
    before = len(workspace.fake.requests)

    again = lifecycle.register_data(target, workspace.settings)

    assert (again.version, again.new, first.new) == (first.version, False, True)
    assert [r.method for r in workspace.fake.requests[before:]] == ["GET"]


def test_a_failed_step_names_the_step_its_error_and_the_studio_link(workspace):
    workspace.fake.executor = lambda name, body: JobOutcome(
        failed_step="train", error="ValueError: the target column has one class"
    )
    target = workspace.target()
    outcome = lifecycle.run(target, workspace.settings, lambda line: None)

    assert outcome.run.status == "Failed"
    assert "step 'train' failed: ValueError: the target column has one class" in outcome.run.error
    assert "https://" in outcome.run.error
    assert [s.status for s in outcome.run.steps] == ["Completed", "Failed", "NotStarted"]
    assert not workspace.sent("PUT", r"/models/")


def test_the_data_version_is_the_same_on_both_targets(workspace, local_run):
    asset = lifecycle.register_data(workspace.target(), workspace.settings)
    local = local_run.target.find_data()
    assert (asset.version, asset.rows, asset.columns) == (local.version, local.rows, local.columns)


def test_invoke_without_a_deployment_goes_through_the_traffic_map_after_one_with(workspace):
    target = workspace.target()
    outcome = lifecycle.run(target, workspace.settings, lambda line: None)
    body = json.dumps({"input_data": {"columns": ["a"], "data": [[1]]}}).encode()

    target.invoke(body, deployment=outcome.deployed.deployment)
    target.invoke(body)

    scored = [r for r in workspace.fake.requests if r.method == "POST" and r.path == "/score"]
    assert scored[-2].headers.get("azureml-model-deployment") == outcome.deployed.deployment
    assert "azureml-model-deployment" not in scored[-1].headers


def test_a_failed_smoke_test_keeps_the_traffic_and_leaves_no_new_deployment(
    workspace, local_run, tmp_path
):
    target = workspace.target()
    first = lifecycle.run(target, workspace.settings, lambda line: None)
    serving = first.deployed.deployment
    better = outputs_measuring(local_run, tmp_path, first.run.metrics["auc"] + 0.01)
    workspace.fake.executor = lambda name, body: JobOutcome(outputs=better)
    run = lifecycle.train(target, workspace.settings, lambda line: None)
    model, _, _ = lifecycle.register(target, workspace.settings, run.run_id)
    workspace.fake.scorer = lambda deployment, body: (
        (500, b'{"message": "model failed to load"}')
        if deployment != serving
        else (200, b'{"probabilities": [], "predictions": []}')
    )
    workspace.fake.deployment_logs = {
        f"{model.name}-v{model.version}": "Traceback: model failed to load"
    }

    with pytest.raises(DeploymentError, match="HTTP 500"):
        lifecycle.deploy(target, workspace.settings, model.version, lambda line: None)

    endpoint = target.get_endpoint()
    assert endpoint.traffic == {serving: 100}
    assert [d.name for d in endpoint.deployments] == [serving]
    kept = (
        lifecycle.report_folder(workspace.settings, run.run_id)
        / f"deployment-{model.name}-v{model.version}.log"
    )
    assert "model failed to load" in kept.read_text()


def test_the_reading_verbs_and_stop_show_what_the_run_left(workspace):
    target = workspace.target()
    outcome = lifecycle.run(target, workspace.settings, lambda line: None)
    run_id = outcome.run.run_id

    (listed,) = target.list_runs()
    assert (listed.run_id, listed.status, listed.metrics) == (
        run_id,
        "Completed",
        outcome.run.metrics,
    )
    shown = target.get_run(run_id[:10])
    assert [s.status for s in shown.steps] == ["Completed"] * 3
    assert target.get_run("latest").run_id == run_id
    table = summary.describe_models(target.list_models(), target.get_endpoint())
    (row,) = table.splitlines()[2:]
    assert row.startswith(f"{outcome.model.version} ") and row.endswith("serving")
    # `mlops endpoint show`: the deployment's provisioning state in Azure's word.
    shown = summary.describe_endpoint(target.get_endpoint(), workspace.settings.endpoint.name)
    (deployment,) = shown.splitlines()[3:]
    assert deployment.split()[:5] == [
        outcome.deployed.deployment,
        outcome.model.ref,
        "100",
        "%",
        "Succeeded",
    ]
    decision, reports = lifecycle.gate(target, workspace.settings, run_id)
    assert reports["json"].is_file()
    # Against itself, now serving: not better by the improvement rule.
    assert not decision.promote

    lifecycle.stop_endpoint(target, workspace.settings, lambda line: None)

    assert target.get_endpoint() is None
    assert workspace.sent("DELETE", r"/onlineEndpoints/credit-default$")
    # The audit trail: an append blob in the workspace's datastore, read by any client.
    trail = audit_trail.read(workspace.target().audit)
    assert [(e["action"], e["version"], e.get("deployment")) for e in trail.events] == [
        ("deploy", outcome.model.ref, outcome.deployed.deployment),
        ("stop", outcome.model.ref, outcome.deployed.deployment),
    ]
    assert trail.events[0]["why"] == "gate: promote" and trail.unreadable == 0
    container = workspace.azurite.service().get_container_client(workspace.fake.container)
    blob = container.get_blob_client(f"mlops/audit/{workspace.settings.model_id}/events.jsonl")
    assert blob.get_blob_properties().blob_type == "AppendBlob"


def test_data_landing_in_the_datastore_is_registered_from_where_it_lies(workspace, local_run):
    landing = "landing/credit.csv"
    container = workspace.azurite.service().get_container_client(workspace.fake.container)
    container.upload_blob(landing, (workspace.project / "data" / "credit.csv").read_bytes())
    settings = workspace.settings.model_copy(
        update={
            "data": workspace.settings.data.model_copy(
                update={"path": f"azureml://datastores/workspaceblobstore/paths/{landing}"}
            )
        }
    )
    target = AzureTarget(
        settings, credential=workspace.credential, transport=workspace.fake, environ=ENVIRON
    )

    asset = lifecycle.register_data(target, settings)

    assert asset.new and asset.version == local_run.target.find_data().version
    # The version keeps its own copy: overwriting the landing file cannot change it.
    assert "/LocalUpload/" in asset.path
    container.upload_blob(landing, b"a,b\n1,2\n", overwrite=True)
    assert target.find_data(asset.version).path == asset.path


@pytest.mark.parametrize("where", ["datastore", "local"])
def test_bad_data_is_named_as_data_path_names_it_never_as_the_downloaded_copy(workspace, where):
    header_only = b"default_payment_next_month,SEX,AGE\n"
    if where == "datastore":
        container = workspace.azurite.service().get_container_client(workspace.fake.container)
        container.upload_blob("landing/empty.csv", header_only)
        path = "azureml://datastores/workspaceblobstore/paths/landing/empty.csv"
    else:
        (workspace.project / "data" / "empty.csv").write_bytes(header_only)
        path = "../../data/empty.csv"  # as the model's settings file names it
    data = workspace.settings.data.model_copy(update={"path": path})
    settings = workspace.settings.model_copy(update={"data": data})
    target = AzureTarget(
        settings, credential=workspace.credential, transport=workspace.fake, environ=ENVIRON
    )
    with pytest.raises(DataError) as error:
        lifecycle.register_data(target, settings)
    assert str(error.value) == f"data.path: {path}: the file has a header but no rows"
    assert not workspace.sent("PUT", r"/data/")


def test_a_datastore_file_that_is_not_there_is_named_as_data_path_names_it(workspace):
    path = "azureml://datastores/workspaceblobstore/paths/landing/absent.csv"
    data = workspace.settings.data.model_copy(update={"path": path})
    settings = workspace.settings.model_copy(update={"data": data})
    target = AzureTarget(
        settings, credential=workspace.credential, transport=workspace.fake, environ=ENVIRON
    )
    with pytest.raises(StorageError, match=f"^data.path: {path}: landing/absent.csv: no such file"):
        lifecycle.register_data(target, settings)


def test_the_local_target_refuses_a_datastore_path_naming_the_key(local_run):
    settings = local_run.settings.model_copy(
        update={
            "data": local_run.settings.data.model_copy(
                update={"path": "azureml://datastores/workspaceblobstore/paths/x.csv"}
            )
        }
    )
    with pytest.raises(SettingsError, match="data.path: .* only target: azure reads"):
        lifecycle.register_data(LocalTarget(settings), settings)


def test_a_run_that_is_not_there_is_named_with_where_to_look(workspace):
    with pytest.raises(RunNotFound, match="no run matching 'nothing' in the workspace"):
        workspace.target().get_run("nothing")


# Parity: the same verbs on both targets leave equivalent state and print the same summary.


def test_the_same_sequence_of_verbs_leaves_equivalent_state_on_both_targets(workspace, local_run):
    azure = workspace.target()
    on_azure = lifecycle.run(azure, workspace.settings, lambda line: None)
    local, settings = local_run.target, local_run.settings
    asset = lifecycle.register_data(local, settings)
    model, decision, _ = lifecycle.register(local, settings, local_run.run.run_id)

    # One data version for the same bytes.
    assert on_azure.asset.version == asset.version
    assert (
        summary.describe_asset(on_azure.asset)
        .split(" (")[0]
        .replace("registered", "already registered")
        == summary.describe_asset(asset).split(" (")[0]
    )
    # Models carry the same lineage tags (a deploy adds when it took the traffic).
    lineage = set(on_azure.model.tags) - {DEPLOYED_TAG}
    assert lineage == set(model.tags)
    assert on_azure.model.tags["mlops.gate"] == model.tags["mlops.gate"] == "promote"
    # The same metrics give the same decision, printed the same way.
    assert on_azure.run.metrics == local_run.run.metrics
    assert summary.describe_decision(on_azure.decision) == summary.describe_decision(decision)
    # The run's summary differs only in its id, times and data path.
    assert [s.name for s in on_azure.run.steps] == [s.name for s in local_run.run.steps]
    assert [s.status for s in on_azure.run.steps] == ["Completed"] * 3
    assert (
        summary.describe_run(on_azure.run).split("\n\n")[2:]
        == summary.describe_run(local_run.run).split("\n\n")[2:]
    )


def test_marking_the_champion_sends_nothing_the_deploy_tag_marks_it(workspace):
    # A workspace's registry has no aliases: the deploy's mlops.deployed_at tag is the mark.
    target = workspace.target()
    target.preflight(deploying=False)
    before = len(workspace.fake.requests)

    target.mark_champion("3")

    assert workspace.fake.requests[before:] == []


def test_registered_bytes_under_other_column_settings_are_checked_again(workspace):
    target = workspace.target()
    lifecycle.register_data(target, workspace.settings)
    data = workspace.settings.data.model_copy(update={"target_column": "EDUCATION"})
    settings = workspace.settings.model_copy(update={"data": data})
    target = AzureTarget(
        settings, credential=workspace.credential, transport=workspace.fake, environ=ENVIRON
    )
    with pytest.raises(DataError) as error:
        lifecycle.register_data(target, settings)
    assert str(error.value).startswith(
        f"data.path: {data.path}: target column 'EDUCATION' must have exactly two values"
    )
    assert "set data.target_column" in str(error.value)
