"""The Azure ML YAML loads and validates offline with azure-ai-ml's own loaders,
as `az ml job create --file pipelines/train.yml` would check it before submitting."""

import tomllib

import pytest
import yaml
from azure.ai.ml import load_component, load_environment, load_job

from tests.conftest import REPO

COMPONENTS = sorted((REPO / "pipelines" / "components").glob("*.yml"))
CONDA = REPO / "environments" / "train" / "conda.yml"


def test_the_pipeline_job_validates():
    job = load_job(REPO / "pipelines" / "train.yml")
    result = job._validate()
    assert result.passed, result.error_messages
    assert set(job.jobs) == {"prep", "train", "evaluate"}
    assert job.settings.default_compute == "cpu-cluster"


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.stem)
def test_each_component_validates_and_runs_in_the_training_environment(path):
    component = load_component(path)
    result = component._validate()
    assert result.passed, result.error_messages
    assert component.environment.conda_file == yaml.safe_load(CONDA.read_text())
    assert component.environment.image.startswith("mcr.microsoft.com/azureml/")
    assert (path.parent / component.code).resolve() == REPO / "pipelines" / "src"
    script = component.command.split()[1]
    assert (REPO / "pipelines" / "src" / script).is_file()


def test_the_named_environment_validates():
    environment = load_environment(REPO / "environments" / "train" / "environment.yml")
    assert environment.conda_file == yaml.safe_load(CONDA.read_text())


def test_the_training_environment_pins_what_runs_locally():
    # A model trained on Azure ML must behave as one trained by `make run`.
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    pip = next(
        d["pip"] for d in yaml.safe_load(CONDA.read_text())["dependencies"] if isinstance(d, dict)
    )
    compared = 0
    for requirement in pip:
        name, version = requirement.split("==")
        if name in locked:
            assert locked[name] == version, f"{name}: conda.yml {version}, uv.lock {locked[name]}"
            compared += 1
    assert compared >= 6
