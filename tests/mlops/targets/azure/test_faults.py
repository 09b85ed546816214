"""What goes wrong on Azure, each a one-line message and nothing left half-done."""

from __future__ import annotations

import pytest

from mlops import lifecycle
from mlops.errors import UserError
from mlops.runs import MODEL_OUTPUT
from mlops.targets.azure.lease import LOCK_BLOB
from mlops.targets.azure.workspace import WorkspaceError
from mlops.targets.base import DeploymentError
from tests.mlops.targets.azure.fake_azureml import FakeCredential


def trained(target, settings):
    lifecycle.register_data(target, settings)
    return lifecycle.train(target, settings, lambda line: None)


def test_training_before_any_data_is_registered_says_what_to_run_first(workspace):
    with pytest.raises(lifecycle.LifecycleError, match="run `mlops register-data` first"):
        lifecycle.train(workspace.target(), workspace.settings, lambda line: None)


def test_a_workspace_that_does_not_exist_names_the_variables_to_check(workspace):
    workspace.fake.workspace_exists = False
    with pytest.raises(WorkspaceError) as raised:
        lifecycle.register_data(workspace.target(), workspace.settings)
    message = str(raised.value)
    assert "workspace mlw-mlops-dev in resource group rg-mlops-dev" in message
    assert "check AZUREML_WORKSPACE_NAME and AZURE_RESOURCE_GROUP" in message
    assert not workspace.sent("PUT", r"/data/")


def test_an_expired_sign_in_says_which_command_to_run(workspace):
    target = workspace.target(credential=FakeCredential(expired=True))
    with pytest.raises(WorkspaceError, match=r"Azure sign-in failed .*run `az login`"):
        target.list_runs()


def test_a_429_is_retried_after_the_time_azure_asks_for(workspace):
    workspace.fake.fail_next(
        "GET", r"/data/credit-default/versions/", 429, headers={"Retry-After": "7"}
    )
    asset = lifecycle.register_data(workspace.target(), workspace.settings)
    assert asset.new
    assert 7 in workspace.fake.slept


def test_an_endpoint_name_taken_in_the_region_is_named_with_the_key_to_change(workspace):
    target = workspace.target()
    run = trained(target, workspace.settings)
    model, _, _ = lifecycle.register(target, workspace.settings, run.run_id)
    workspace.fake.fail_next(
        "PUT",
        r"/onlineEndpoints/credit-default$",
        409,
        body={"error": {"code": "Conflict", "message": "Endpoint name is already in use."}},
    )
    with pytest.raises(DeploymentError, match="choose another endpoint.name"):
        lifecycle.deploy(target, workspace.settings, model.version, lambda line: None)
    assert not workspace.sent("PUT", r"/deployments/")
    assert target.get_endpoint() is None


def test_a_deploy_waits_for_no_one_else_and_names_the_holder_of_the_lease(workspace):
    target = workspace.target()
    run = trained(target, workspace.settings)
    model, _, _ = lifecycle.register(target, workspace.settings, run.run_id)
    blob = workspace.azurite.service().get_blob_client(
        workspace.fake.container, LOCK_BLOB.format(name="credit-default")
    )
    blob.upload_blob(b"")
    lease = blob.acquire_lease(lease_duration=60)
    holder = "workflow run https://github.com/org/repo/actions/runs/42"
    blob.set_blob_metadata({"holder": holder, "since": "2026-11-27T10:00:00+00:00"}, lease=lease)

    with pytest.raises(DeploymentError, match=f"being changed by {holder} since 2026-11-27"):
        lifecycle.deploy(target, workspace.settings, model.version, lambda line: None)

    assert not workspace.sent("PUT", r"/onlineEndpoints/")
    lease.release()
    lifecycle.deploy(target, workspace.settings, model.version, lambda line: None)
    # Released on the way out: the next deploy takes it at once.
    assert blob.acquire_lease(lease_duration=15).id


def test_ctrl_c_while_the_job_runs_cancels_it_on_azure(workspace):
    target = workspace.target()

    def interrupt(line: str) -> None:
        if line.startswith("[1/3]"):
            raise KeyboardInterrupt

    lifecycle.register_data(target, workspace.settings)
    with pytest.raises(KeyboardInterrupt):
        lifecycle.train(target, workspace.settings, interrupt)

    (canceled,) = workspace.sent("POST", r"/jobs/[^/]+/cancel$")
    assert target.get_run("latest").status == "Canceled"
    assert canceled.path.split("/")[-2] == target.get_run("latest").run_id


def test_a_model_output_is_read_although_the_sdk_cannot_download_it(workspace, local_run):
    # azure-ai-ml 1.33-1.35.2: jobs.download of a model-typed output raises TypeError.
    target = workspace.target()
    run = trained(target, workspace.settings)
    with pytest.raises(TypeError, match="BatchGetResolvedUrisDto"):
        target.client.jobs.download(
            run.run_id, output_name=MODEL_OUTPUT, download_path=workspace.project / "x"
        )

    folder = target.output_path(run, MODEL_OUTPUT)

    expected = local_run.outputs[MODEL_OUTPUT]
    assert sorted(p.name for p in folder.rglob("*")) == sorted(p.name for p in expected.rglob("*"))
    assert (folder / "MLmodel").read_bytes() == (expected / "MLmodel").read_bytes()


def test_a_first_deployment_that_fails_to_start_leaves_no_endpoint_and_keeps_its_log(workspace):
    target = workspace.target()
    run = trained(target, workspace.settings)
    model, _, _ = lifecycle.register(target, workspace.settings, run.run_id)
    name = f"{model.name}-v{model.version}"
    workspace.fake.fail_deployment[name] = "Container crashed: ImportError: no module named sklearn"
    workspace.fake.deployment_logs[name] = "ImportError: no module named sklearn"

    with pytest.raises(DeploymentError, match="ImportError: no module named sklearn") as raised:
        lifecycle.deploy(target, workspace.settings, model.version, lambda line: None)

    assert "its server log is kept in" in str(raised.value)
    assert target.get_endpoint() is None
    assert workspace.sent("DELETE", rf"/deployments/{name}$")
    assert "mlops.deployed_at" not in target.get_model(model.version).tags


@pytest.mark.parametrize(
    ("code", "variable"),
    [
        ("SubscriptionNotFound", "AZURE_SUBSCRIPTION_ID"),
        ("ResourceGroupNotFound", "AZURE_RESOURCE_GROUP"),
    ],
)
def test_a_wrong_subscription_or_resource_group_names_its_variable(workspace, code, variable):
    body = {"error": {"code": code, "message": f"{code}: not found."}}
    workspace.fake.fail_next("GET", r"/workspaces/mlw-mlops-dev$", 404, body=body)
    with pytest.raises(WorkspaceError, match=f"was not found \\({code}\\): check {variable}"):
        workspace.target().list_models()


def test_an_identity_without_a_role_on_the_workspace_is_told_which_it_needs(workspace):
    body = {"error": {"code": "AuthorizationFailed", "message": "The client does not have access."}}
    workspace.fake.fail_next("GET", r"/workspaces/mlw-mlops-dev$", 403, body=body)
    with pytest.raises(WorkspaceError, match="AuthorizationFailed.*needs AzureML Data Scientist"):
        workspace.target().list_models()


def test_an_identity_that_cannot_write_the_storage_is_told_which_role_it_needs(workspace):
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    workspace.fake.sas_token = generate_account_sas(
        workspace.azurite.account,
        workspace.azurite.key,
        resource_types=ResourceTypes(container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    with pytest.raises(WorkspaceError, match="Storage Blob Data Contributor"):
        lifecycle.stop_endpoint(workspace.target(), workspace.settings, lambda line: None)


def test_settings_the_pipeline_would_refuse_stop_the_job_before_anything_is_sent(workspace):
    settings = workspace.settings.model_copy(
        update={"pipeline": workspace.settings.pipeline.model_copy(update={"test_size": 0.7})}
    )
    target = workspace.target()
    with pytest.raises(UserError, match="pipeline.test_size: 0.7 is above the maximum 0.5"):
        lifecycle.preflight(target, settings, deploying=True, training=True)
    assert not [r for r in workspace.fake.requests if r.method != "GET"]


def test_a_deployment_file_without_its_scoring_script_is_refused_before_a_deploy(workspace):
    (workspace.project / "pipelines" / "src" / "score.py").unlink()
    with pytest.raises(UserError, match="scoring_script: .*score.py does not exist"):
        lifecycle.preflight(workspace.target(), workspace.settings, deploying=True)
