"""pipelines/finetune.yml as azure-ai-ml submits it to a workspace: the body of
the pipeline job Azure ML receives (the REST fake records it)."""

from __future__ import annotations

import json

import pytest
import yaml
from azure.ai.ml import load_job

from mlops import lifecycle
from mlops.settings import PIPELINE_ONLY, load_settings
from mlops.targets.azure import finetuning
from mlops.targets.azure.workspace import Coordinates, connect
from mlops.task import TASK_TAG
from tests.conftest import FINE_TUNED_MODEL, REPO, edit_model, model_file
from tests.mlops.targets.azure.fake_azureml import JobOutcome

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


def test_serverless_fine_tuning_sends_the_sdks_job_then_gates_and_serves_the_model_it_registered(
    text_workspace, fine_tuned_run
):
    workspace = text_workspace
    own = yaml.safe_load(model_file(workspace.project, FINE_TUNED_MODEL).read_text())
    for key in PIPELINE_ONLY:  # the pipeline's train step's keys, which serverless refuses
        own["finetune"].pop(key, None)
    own["finetune"]["backend"] = "serverless"
    model_file(workspace.project, FINE_TUNED_MODEL).write_text(yaml.safe_dump(own))
    workspace.settings = load_settings(workspace.project / "mlops.yml", model=FINE_TUNED_MODEL)
    produced = {**fine_tuned_run.outputs, finetuning.OUTPUT: fine_tuned_run.outputs["model"]}

    def publish(job: str, body: dict) -> JobOutcome:  # what each job writes, as Azure would
        declared = body["properties"].get("outputs") or {}
        return JobOutcome(outputs={k: v for k, v in produced.items() if k in declared})

    workspace.fake.executor = publish
    lines: list[str] = []

    outcome = lifecycle.run(workspace.target(), workspace.settings, lines.append)

    assert outcome.run.status == "Completed", outcome.run.error
    assert outcome.decision.promote, [c.reason for c in outcome.decision.failed()]
    run_id = outcome.run.run_id
    # The fine-tuning job, as azure-ai-ml's create_finetuning_job builds it.
    (tuning,) = workspace.sent("PUT", rf"/jobs/{run_id}-finetune$")
    job = tuning.body["properties"]
    assert job["jobType"] == "FineTuning"
    assert job["experimentName"] == FINE_TUNED_MODEL
    details = job["fineTuningDetails"]
    assert details["modelProvider"] == "Custom"
    assert details["taskType"] == "chatCompletion"  # the SDK lower-cases its first letter
    assert details["model"] == {
        "uri": "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14",
        "jobInputType": "mlflow_model",
    }
    assert details["hyperParameters"] == {
        "num_train_epochs": "3",
        "learning_rate": "0.002",
        "per_device_train_batch_size": "16",
    }
    for split in ("trainingData", "validationData"):
        assert details[split]["jobInputType"] == "uri_file"
        assert details[split]["uri"].startswith("azureml://datastores/workspaceblobstore/paths/")
    assert job["outputs"]["registered_model"] == {
        "jobOutputType": "mlflow_model",
        "assetName": f"{FINE_TUNED_MODEL}-{run_id}",
    }
    # Then the evaluate step, on the GPU cluster, on the model the job registered.
    (evaluate,) = workspace.sent("PUT", rf"/jobs/{run_id}$")
    pipeline = evaluate.body["properties"]
    assert set(pipeline["jobs"]) == {"evaluate"}
    assert pipeline["jobs"]["evaluate"]["computeId"].endswith("/computes/gpu-cluster")
    assert pipeline["inputs"]["model"]["uri"].endswith(
        f"/models/{FINE_TUNED_MODEL}-{run_id}/versions/1"
    )
    assert [line.split(":")[0].split(" in ")[0] for line in lines if line.startswith("[")] == [
        "[1/3] prep",
        "[1/3] prep completed",
        "[2/3] finetune",
        "[2/3] finetune completed",
        "[3/3] evaluate",
        "[3/3] evaluate completed",
    ], lines
    # The version registered is the fine-tuning job's model, smoke-tested and serving.
    registered = workspace.sent("PUT", rf"/models/{FINE_TUNED_MODEL}/versions/[^/]+$")[0]
    assert registered.body["properties"]["modelUri"] == (
        f"azureml://jobs/{run_id}-finetune/outputs/registered_model"
    )
    assert workspace.target().get_run(run_id).steps[1].name == "finetune"
    status, body = workspace.target().invoke(
        lifecycle.sample_request(workspace.settings).read_bytes()
    )
    assert status == 200, body
    assert isinstance(json.loads(body)["completion"], str)


def test_serverless_fine_tuning_refuses_a_local_base_model_and_the_train_steps_own_keys(tmp_path):
    from mlops.settings import FinetuneSettings

    with pytest.raises(ValueError, match="serverless fine-tuning starts from a model catalog"):
        FinetuneSettings(base_model="azureml:my-model:1", backend="serverless")
    with pytest.raises(ValueError, match=r"finetune.lora_rank, finetune.target_modules: "):
        FinetuneSettings(
            base_model="azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14",
            backend="serverless",
            lora_rank=4,
            target_modules="q_proj",
        )
