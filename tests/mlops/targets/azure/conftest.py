"""The Azure target against an offline workspace: the real azure-ai-ml client over
the REST fake (``fake_azureml.py``), its blobs in Azurite (``azurite.py``).

A pipeline job's outputs are real: the pipeline is run once per session on
this machine (the local target, same YAML, same steps) and the fake publishes
those files as the outputs of every job it is sent.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops.settings import Settings, load_settings
from mlops.targets.azure import AzureTarget
from mlops.targets.local import LocalTarget
from tests.conftest import copy_project, shared_folder, write_settings
from tests.mlops.targets.azure.azurite import azurite  # noqa: F401 - a fixture
from tests.mlops.targets.azure.fake_azureml import FakeAzureML, FakeCredential, JobOutcome
from tests.mlops.targets.azure.fake_registry import FakeRegistry

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-mlops-dev"
WORKSPACE = "mlw-mlops-dev"
CONTAINER = "azureml-blobstore-test"
ENVIRON = {
    "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
    "AZURE_RESOURCE_GROUP": RESOURCE_GROUP,
    "AZUREML_WORKSPACE_NAME": WORKSPACE,
    "AZUREML_COMPUTE": "cpu-cluster",
}


@dataclass
class LocalRun:
    """The session's run on the local target: its project, settings and outputs."""

    project: Path
    settings: Settings
    target: LocalTarget
    run: object
    outputs: dict[str, Path]


@pytest.fixture(scope="session")
def local_run(tmp_path_factory, trained_template) -> LocalRun:
    """Once per test session, a copy of the session's trained project (see
    ``tests.conftest.trained_template``), shared by the workers; its run is the one
    every job of the fake publishes."""
    shared = shared_folder(
        tmp_path_factory, "azure-local-run", lambda folder: copy_project(trained_template, folder)
    )
    settings = load_settings(shared / "mlops.yml")
    target = LocalTarget(settings)
    run = target.get_run("latest")
    outputs = {name: Path(path) for name, path in run.outputs.items()}
    return LocalRun(shared, settings, target, run, outputs)


def real_scorer(model_dir: Path):
    """What a deployment of the session's model answers: the scoring script's own
    request checks and the model's probabilities (score.py, minus its HTTP server)."""
    import json

    import score

    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    try:
        score.init()
    finally:
        del os.environ["AZUREML_MODEL_DIR"]

    def answer(deployment: str, body: bytes) -> tuple[int, bytes]:
        try:
            frame = score.parse_request(body, score.contract.columns)
            rows = len(frame)
            probabilities = score.positive_probabilities(score.model.predict_proba(frame), rows)
        except score.BadRequest as problem:
            return problem.status, json.dumps({"message": str(problem)}).encode()
        predictions = [int(p >= score.THRESHOLD) for p in probabilities]
        result = {"predictions": predictions, "probabilities": [float(p) for p in probabilities]}
        return 200, json.dumps(result).encode()

    return answer


def outputs_measuring(local_run: LocalRun, folder: Path, auc: float) -> dict[str, Path]:
    """The session run's outputs, its metrics changed to say ``auc``: a job whose
    model the gate will judge better or worse than the first."""
    import json

    metrics = folder / "metrics"
    shutil.copytree(local_run.outputs["metrics"], metrics)
    values = json.loads((metrics / "metrics.json").read_text())
    (metrics / "metrics.json").write_text(json.dumps({**values, "auc": auc}))
    return {**local_run.outputs, "metrics": metrics}


@pytest.fixture(scope="session")
def scorer(local_run):
    return real_scorer(local_run.outputs["model"])


@dataclass
class Workspace:
    """One offline workspace and a project whose settings say ``target: azure``."""

    fake: FakeAzureML
    credential: FakeCredential
    project: Path
    settings: Settings
    azurite: object
    environ: dict[str, str]

    def target(self, **changes) -> AzureTarget:
        return AzureTarget(
            self.settings,
            credential=changes.get("credential", self.credential),
            transport=self.fake,
            environ=changes.get("environ", self.environ),
        )

    def sent(self, method: str, pattern: str) -> list:
        """The requests the SDK sent with ``method`` whose path matches ``pattern``."""
        import re

        return [r for r in self.fake.requests if r.method == method and re.search(pattern, r.path)]


REGISTRY = "mlr-mlops-test"


@pytest.fixture
def registry(azurite):  # noqa: F811 - the fixture above
    """The Azure ML registry the workspaces of a test share."""
    return FakeRegistry(
        REGISTRY,
        SUBSCRIPTION,
        "rg-mlops-identities",
        blob_service=azurite.service(),
        sas_token=azurite.account_sas(),
    )


def _workspace(name, folder, azurite, local_run, scorer, registry, monkeypatch, **settings):  # noqa: F811
    from azure.ai.ml.constants import _common

    monkeypatch.setitem(_common.STORAGE_ACCOUNT_URLS, "AzureBlob", azurite.url_format)
    container = f"ws-{uuid.uuid4().hex}"
    azurite.create_container(container)
    resource_group = f"rg-{name.removeprefix('mlw-')}"
    fake = FakeAzureML(
        SUBSCRIPTION,
        resource_group,
        name,
        container=container,
        sas_token=azurite.account_sas(),
        blob_service=azurite.service(),
    )
    fake.attach(registry)
    fake.executor = lambda job, body: JobOutcome(outputs=dict(local_run.outputs))
    fake.scorer = scorer
    project = folder / name
    for part in ("pipelines", "environments", "data"):
        shutil.copytree(local_run.project / part, project / part)
    write_settings(
        project,
        target="azure",
        data={"path": "data/credit.csv"},
        gate=local_run.settings.gate.model_dump(exclude_none=True),
        azure={"poll_seconds": 0},
        endpoint={"lock_wait_seconds": 0},
        **settings,
    )
    environ = {
        **ENVIRON,
        "AZURE_RESOURCE_GROUP": resource_group,
        "AZUREML_WORKSPACE_NAME": name,
        "AZUREML_REGISTRY_NAME": REGISTRY,
    }
    settings = load_settings(project / "mlops.yml")
    return Workspace(fake, FakeCredential(), project, settings, azurite, environ)


@pytest.fixture
def workspace(azurite, local_run, scorer, registry, tmp_path, monkeypatch):  # noqa: F811
    """The dev environment's workspace."""
    return _workspace(WORKSPACE, tmp_path, azurite, local_run, scorer, registry, monkeypatch)


@pytest.fixture
def staging(azurite, local_run, scorer, registry, tmp_path, monkeypatch):  # noqa: F811
    """A second environment's workspace, sharing the registry with ``workspace``."""
    return _workspace(
        "mlw-mlops-staging", tmp_path, azurite, local_run, scorer, registry, monkeypatch
    )
