"""The Azure target against an offline workspace: the real azure-ai-ml client over
the REST fake (``fake_azureml.py``), its blobs in Azurite (``azurite.py``).

A pipeline job's outputs are real: the pipeline is run once per session on
this machine (the local target, same YAML, same steps) and the fake publishes
those files as the outputs of every job it is sent. There are two such runs:
the sample binary classifier's (``local_run``) and a regression model's on the
diabetes data (``regression_run``), each with its workspace fixture.
"""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mlops.settings import Settings, load_settings
from mlops.targets.azure import AzureTarget
from mlops.targets.local import LocalTarget
from tests.conftest import (
    FINE_TUNED_MODEL,
    REPO,
    copy_project,
    edit_model,
    free_port,
    shared_folder,
)
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


def _local_run(project: Path, model: str | None = None) -> LocalRun:
    settings = load_settings(project / "mlops.yml", model=model)
    target = LocalTarget(settings)
    run = target.get_run("latest")
    outputs = {name: Path(path) for name, path in run.outputs.items()}
    return LocalRun(project, settings, target, run, outputs)


@pytest.fixture(scope="session")
def local_run(tmp_path_factory, trained_template) -> LocalRun:
    """Once per test session, a copy of the session's trained project (see
    ``tests.conftest.trained_template``), shared by the workers; its run is the one
    every job of the fake publishes."""
    shared = shared_folder(
        tmp_path_factory, "azure-local-run", lambda folder: copy_project(trained_template, folder)
    )
    return _local_run(shared)


REGRESSION_MODEL = "diabetes-progression"


def _train_regression(root: Path) -> None:
    """The repository's regression model as it ships (its settings, its own
    pipeline and the 442 rows of the diabetes data), trained on the local target."""
    from mlops import lifecycle
    from mlops.targets import get_target

    ignore = shutil.ignore_patterns("__pycache__")
    for part in ("pipelines", "environments", "data/diabetes", f"models/{REGRESSION_MODEL}"):
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    fork = yaml.safe_load((REPO / "mlops.yml").read_text())
    fork["local"] = {**fork.get("local", {}), "endpoint_port": free_port()}
    (root / "mlops.yml").write_text(yaml.safe_dump(fork, sort_keys=False))
    settings = load_settings(root / "mlops.yml", model=REGRESSION_MODEL)
    target = get_target(settings)
    lifecycle.register_data(target, settings)
    run = lifecycle.train(target, settings, lambda line: None)
    assert run.status == "Completed", run.error


@pytest.fixture(scope="session")
def regression_run(tmp_path_factory) -> LocalRun:
    """Once per test session, shared by the workers: model diabetes-progression
    (kind regression) trained on this machine; the run its workspace's jobs publish."""
    return _local_run(shared_folder(tmp_path_factory, "azure-regression-run", _train_regression))


@pytest.fixture(scope="session")
def fine_tuned_run(fine_tuned_template) -> LocalRun:
    """The session's fine-tuning run of the text-generation model on this machine
    (see ``tests.conftest.fine_tuned_template``): the run its workspace's jobs publish."""
    return _local_run(fine_tuned_template, FINE_TUNED_MODEL)


def _initialised(shipped, model_dir: Path):
    """A copy of scoring script module ``shipped`` of its own, ``init()`` run on the
    model in ``model_dir``: each script keeps its model in module globals, and a
    session holds models of several kinds."""
    spec = importlib.util.spec_from_file_location(f"script_{uuid.uuid4().hex}", shipped.__file__)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZUREML_MODEL_DIR", str(model_dir))
        script.init()
    return script


def real_generator(model_dir: Path):
    """What a deployment of the text-generation model in ``model_dir`` answers: the
    generation scoring script's own request checks and completion
    (generate_score.py, minus its HTTP server)."""
    import json

    import generate_score

    generate = _initialised(generate_score, model_dir)

    def answer(deployment: str, body: bytes) -> tuple[int, bytes]:
        try:
            prompt, parameters = generate.parse_request(body)
            ids = generate.prompt_ids(generate.tokenizer, prompt)
            generate._check_room(len(ids), parameters["max_new_tokens"])
        except generate.BadRequest as problem:
            return problem.status, json.dumps({"message": str(problem)}).encode()
        return 200, json.dumps(generate.complete(ids, parameters)).encode()

    return answer


def real_scorer(model_dir: Path):
    """What a deployment of the model in ``model_dir`` answers, of any kind: the
    scoring script's own request checks and answer (score.py, minus its HTTP
    server), from a copy of the script of its own (``_initialised``)."""
    import json

    import score as shipped

    score = _initialised(shipped, model_dir)

    def answer(deployment: str, body: bytes) -> tuple[int, bytes]:
        try:
            frame = score.parse_request(body, score.contract.columns)
        except score.BadRequest as problem:
            return problem.status, json.dumps({"message": str(problem)}).encode()
        return 200, json.dumps(score.answer(frame)).encode()

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


@pytest.fixture(scope="session")
def regression_scorer(regression_run):
    return real_scorer(regression_run.outputs["model"])


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


def _workspace(name, folder, azurite, local_run, scorer, registry, monkeypatch):  # noqa: F811
    """Workspace ``name`` whose jobs publish ``local_run``'s outputs and whose
    deployments answer with ``scorer``, and a copy of ``local_run``'s project
    (its pipelines, data and model settings, no state) set to ``target: azure``."""
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
    for part in ("pipelines", "environments", "data", "models"):
        shutil.copytree(local_run.project / part, project / part)
    fork = yaml.safe_load((local_run.project / "mlops.yml").read_text())
    fork.update(target="azure", azure={**fork.get("azure", {}), "poll_seconds": 0})
    (project / "mlops.yml").write_text(yaml.safe_dump(fork, sort_keys=False))
    model = local_run.settings.model_id
    # A quarter of the requests collected: the share the deployment is sent with.
    edit_model(project, model, endpoint={"lock_wait_seconds": 0}, monitor={"sampling_rate": 0.25})
    environ = {
        **ENVIRON,
        "AZURE_RESOURCE_GROUP": resource_group,
        "AZUREML_WORKSPACE_NAME": name,
        "AZUREML_REGISTRY_NAME": REGISTRY,
    }
    settings = load_settings(project / "mlops.yml", model=model)
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


@pytest.fixture
def regression_workspace(
    azurite,  # noqa: F811 - the fixture above
    regression_run,
    regression_scorer,
    registry,
    tmp_path,
    monkeypatch,
):
    """The dev environment's workspace for model diabetes-progression (regression)."""
    return _workspace(
        WORKSPACE, tmp_path, azurite, regression_run, regression_scorer, registry, monkeypatch
    )


@pytest.fixture
def text_workspace(
    azurite,  # noqa: F811 - the fixture above
    fine_tuned_run,
    registry,
    tmp_path,
    monkeypatch,
):
    """The dev environment's workspace for model number-words (text generation),
    with the GPU cluster of infra/."""
    generator = real_generator(fine_tuned_run.outputs["model"])
    workspace = _workspace(
        WORKSPACE, tmp_path, azurite, fine_tuned_run, generator, registry, monkeypatch
    )
    workspace.fake.computes.add("gpu-cluster")
    return workspace
