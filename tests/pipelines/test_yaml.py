"""The Azure ML YAML loads and validates offline with azure-ai-ml's own loaders,
as `az ml job create --file pipelines/train.yml` would check it before submitting."""

import json
import tomllib

import pytest
import yaml
from azure.ai.ml import (
    load_component,
    load_environment,
    load_job,
    load_online_deployment,
    load_online_endpoint,
)

from mlops.data_checks import check_table
from mlops.lifecycle import pipeline_inputs
from mlops.settings import load_settings
from mlops.targets.base import DataAsset
from tests.conftest import REPO

COMPONENTS = sorted((REPO / "pipelines" / "components").glob("*.yml"))
CONDA = REPO / "environments" / "train" / "conda.yml"
SCORE_CONDA = REPO / "environments" / "score" / "conda.yml"
FINETUNE_CONDA = REPO / "environments" / "finetune" / "conda.yml"
GENERATE_CONDA = REPO / "environments" / "generate" / "conda.yml"
ENDPOINTS = REPO / "pipelines" / "endpoints"


def test_the_pipeline_job_validates():
    job = load_job(REPO / "pipelines" / "train.yml")
    result = job._validate()
    assert result.passed, result.error_messages
    assert set(job.jobs) == {"prep", "train", "evaluate"}
    assert job.settings.default_compute == "cpu-cluster"


def test_the_fine_tuning_pipeline_trains_on_the_gpu_cluster_from_a_catalog_model():
    job = load_job(REPO / "pipelines" / "finetune.yml")
    result = job._validate()
    assert result.passed, result.error_messages
    assert set(job.jobs) == {"prep", "train", "evaluate"}
    assert job.jobs["train"].compute == job.jobs["evaluate"].compute == "gpu-cluster"
    assert job.jobs["train"].distribution.type == "pytorch"
    base = job.inputs["base_model"]._data  # the Input the YAML declares
    assert base.type == "mlflow_model"
    assert base.path.startswith("azureml://registries/azureml/models/")


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.stem)
def test_each_component_validates_and_runs_in_its_kinds_environment(path):
    component = load_component(path)
    result = component._validate()
    assert result.passed, result.error_messages
    # The text-generation kind's steps (text_*) need torch, on a CUDA image.
    conda = FINETUNE_CONDA if path.stem.startswith("text_") else CONDA
    assert component.environment.conda_file == yaml.safe_load(conda.read_text())
    assert component.environment.image.startswith("mcr.microsoft.com/azureml/")
    assert (path.parent / component.code).resolve() == REPO / "pipelines" / "src"
    script = component.command.split()[1]
    assert (REPO / "pipelines" / "src" / script).is_file()


def test_the_named_environment_validates():
    environment = load_environment(REPO / "environments" / "train" / "environment.yml")
    assert environment.conda_file == yaml.safe_load(CONDA.read_text())


def pinned(conda_file):
    return next(
        d["pip"]
        for d in yaml.safe_load(conda_file.read_text())["dependencies"]
        if isinstance(d, dict)
    )


@pytest.mark.parametrize(
    "conda_file",
    [CONDA, SCORE_CONDA, FINETUNE_CONDA, GENERATE_CONDA],
    ids=["train", "score", "finetune", "generate"],
)
def test_the_azure_environments_pin_what_runs_locally(conda_file):
    # A model trained or served on Azure ML must behave as it does under `make run`.
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    compared = 0
    for requirement in pinned(conda_file):
        name, version = requirement.split("==")
        if name in locked:
            assert locked[name] == version, (
                f"{name}: {conda_file.name} {version}, uv.lock {locked[name]}"
            )
            compared += 1
    assert compared >= 4


def test_the_online_endpoint_and_deployment_validate():
    endpoint = load_online_endpoint(ENDPOINTS / "endpoint.yml")
    assert endpoint.auth_mode == "aad_token"
    deployment = load_online_deployment(ENDPOINTS / "deployment.yml")
    assert deployment.endpoint_name == endpoint.name
    code = (ENDPOINTS / deployment.code_configuration.code).resolve()
    assert (code / deployment.code_configuration.scoring_script).is_file()
    assert deployment.environment.conda_file == yaml.safe_load(SCORE_CONDA.read_text())
    assert any(r.startswith("azureml-inference-server-http==") for r in pinned(SCORE_CONDA))
    assert deployment.request_settings.max_concurrent_requests_per_instance == 1


def test_a_text_generation_deployment_is_a_gpu_instance_serving_the_generation_script():
    deployment = load_online_deployment(ENDPOINTS / "generation-deployment.yml")
    code = (ENDPOINTS / deployment.code_configuration.code).resolve()
    assert deployment.code_configuration.scoring_script == "generate_score.py"
    assert (code / "generate_score.py").is_file()
    assert deployment.instance_type.startswith("Standard_NC")  # an NVIDIA GPU size
    assert deployment.environment.image.startswith("mcr.microsoft.com/azureml/")
    assert "cuda" in deployment.environment.image
    assert deployment.environment.conda_file == yaml.safe_load(GENERATE_CONDA.read_text())
    assert deployment.request_settings.request_timeout_ms <= 180_000  # Azure ML's ceiling
    variables = deployment.environment_variables
    assert int(variables["GENERATION_MAX_NEW_TOKENS"]) >= 1 and variables["WORKER_COUNT"] == "1"


def test_the_default_column_roles_are_what_mlops_writes_for_the_sample(tmp_path):
    # `az ml job create --file pipelines/train.yml` runs on the sample with these roles.
    settings = load_settings(REPO / "mlops.yml", model="credit-default")
    settings = settings.model_copy(update={"state_dir": tmp_path})
    profile = check_table(settings.data_source(), settings.data)
    asset = DataAsset("credit-default", "1", "-", "-", profile.rows, profile.columns, "-")
    written = pipeline_inputs(settings, asset)["columns"]
    declared = yaml.safe_load((REPO / "pipelines" / "train.yml").read_text())["inputs"]
    default = REPO / "pipelines" / declared["columns"]["path"]
    assert json.loads(written.read_text()) == json.loads(default.read_text())
