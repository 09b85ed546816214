"""pipelines/finetune.yml as azure-ai-ml submits it to a workspace: the body of
the pipeline job Azure ML receives (the REST fake records it)."""

from __future__ import annotations

from azure.ai.ml import load_job

from mlops.targets.azure.workspace import Coordinates, connect
from tests.conftest import REPO


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
