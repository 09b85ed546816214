"""pipelines/finetune.yml as azure-ai-ml submits it to a workspace: the body of
the pipeline job Azure ML receives (the REST fake records it)."""

from __future__ import annotations

import json

from azure.ai.ml import load_job

from mlops import lifecycle
from mlops.settings import load_settings
from mlops.targets.azure.workspace import Coordinates, connect
from mlops.task import TASK_TAG
from tests.conftest import FINE_TUNED_MODEL, REPO, edit_model

# The header naming the deployment a scoring request goes to.
_DEPLOYMENT = "azureml-model-deployment"


def test_the_fine_tuning_pipeline_is_sent_with_the_catalog_model_and_the_gpu_cluster(workspace):
    coordinates = Coordinates(
        workspace.environ["AZURE_SUBSCRIPTION_ID"],
        workspace.environ["AZURE_RESOURCE_GROUP"],
        workspace.environ["AZUREML_WORKSPACE_NAME"],
        compute=None,
        source="the test's environment",
    )
    workspace.fake.computes.add("gpu-cluster")  # infra/'s, where gpuVmSize is set
    client = connect(coordinates, workspace.credential, transport=workspace.fake)
    job = load_job(REPO / "pipelines" / "finetune.yml")
    job.jobs["train"].resources.instance_count = 2  # a node count from the settings

    client.jobs.create_or_update(job, experiment_name="number-words")

    (sent,) = workspace.sent("PUT", r"/jobs/[^/]+$")
    properties = sent.body["properties"]
    assert properties["jobType"] == "Pipeline"
    assert properties["inputs"]["base_model"] == {
        "uri": "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14",
        "jobInputType": "mlflow_model",
    }
    assert properties["inputs"]["target_modules"]["value"] == "qkv_proj,o_proj"  # Phi-3's
    train = properties["jobs"]["train"]
    gpu = (
        f"/subscriptions/{coordinates.subscription}/resourceGroups/{coordinates.resource_group}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{coordinates.workspace}"
        "/computes/gpu-cluster"
    )
    assert train["computeId"] == properties["jobs"]["evaluate"]["computeId"] == gpu
    assert train["distribution"] == {
        "distribution_type": "PyTorch",
        "process_count_per_instance": 1,
    }
    assert train["resources"] == {"instance_count": 2}
    assert train["inputs"]["base_model"]["value"] == "${{parent.inputs.base_model}}"
    # The examples were uploaded as the job's input file; prep runs on the default compute.
    assert properties["inputs"]["raw_data"]["uri"].endswith("/number_words.jsonl")
    assert properties["jobs"]["prep"].get("computeId") is None


def test_a_fine_tuned_model_is_trained_on_gpus_gated_and_served_by_a_gpu_deployment(
    text_workspace,
):
    workspace = text_workspace
    path = edit_model(workspace.project, FINE_TUNED_MODEL, finetune={"instance_count": 2})
    workspace.settings = load_settings(workspace.project / "mlops.yml", model=FINE_TUNED_MODEL)
    assert path.is_file()
    target = workspace.target()

    outcome = lifecycle.run(target, workspace.settings, lambda line: None)

    assert outcome.run.status == "Completed", outcome.run.error
    assert outcome.decision.promote, [c.reason for c in outcome.decision.failed()]
    # The job: the catalog model as a model input, the settings' LoRA values, two GPU nodes.
    (submit,) = workspace.sent("PUT", r"/jobs/[^/]+$")
    job = submit.body["properties"]
    assert job["experimentName"] == FINE_TUNED_MODEL
    assert job["inputs"]["base_model"] == {
        "uri": "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14",
        "jobInputType": "mlflow_model",
    }
    assert job["inputs"]["target_modules"]["value"] == "all-linear"
    assert job["inputs"]["learning_rate"]["value"] == "0.002"
    assert job["jobs"]["train"]["resources"] == {"instance_count": 2}
    assert job["jobs"]["train"]["computeId"].endswith("/computes/gpu-cluster")
    assert "resources" not in job["jobs"]["prep"]  # one CPU node: nothing to scale out
    assert json.loads(outcome.model.tags[TASK_TAG])["kind"] == "text-generation"
    # The deployment: the registered version, on the GPU size generation-deployment.yml names.
    deployment = outcome.deployed.deployment
    (created,) = workspace.sent("PUT", r"/onlineEndpoints/[^/]+/deployments/[^/]+$")
    properties = created.body["properties"]
    assert properties["instanceType"] == "Standard_NC4as_T4_v3"
    assert properties["model"].endswith(
        f"/models/{outcome.model.name}/versions/{outcome.model.version}"
    )
    assert properties["codeConfiguration"]["scoringScript"] == "generate_score.py"
    assert properties["environmentVariables"]["GENERATION_MAX_NEW_TOKENS"] == "256"
    # Smoke-tested on held-out prompts before it took the traffic, and a request
    # past the bounds on generation refused.
    smoke = [r for r in workspace.sent("POST", r"^/score$") if r.headers.get(_DEPLOYMENT)]
    asked = [r.body for r in smoke]
    assert all("messages" in body for body in asked)
    assert sum(body["max_new_tokens"] > 256 for body in asked) == 1
    assert target.get_endpoint().traffic == {deployment: 100}
    status, body = target.invoke(lifecycle.sample_request(workspace.settings).read_bytes())
    assert status == 200, body
    assert isinstance(json.loads(body)["completion"], str)
