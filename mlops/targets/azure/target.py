"""The Azure target: the lifecycle on an Azure ML workspace, through azure-ai-ml.

Data assets, pipeline jobs, the model registry and managed online endpoints
are the workspace's own; this machine keeps only what it downloaded (run
outputs, once per run and output) under ``state_dir/azure/<workspace>/``, the
gate reports and the sample request. The workspace is named by the
environment or ``config.json`` (``workspace.py``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from mlops.deployment_spec import load_deployment_spec
from mlops.lineage import git_state
from mlops.pipeline_graph import PipelineGraph, load_pipeline, require_inputs
from mlops.runs import DATA_INPUT, METRICS_OUTPUT, MODEL_OUTPUT, new_run_id, read_metrics
from mlops.targets.azure import (
    data,
    endpoint,
    finetuning,
    jobs,
    lease,
    models,
    registry,
    storage,
)
from mlops.targets.azure.audit import AzureAudit
from mlops.targets.azure.monitoring import AzureMonitoring
from mlops.targets.azure.workspace import (
    Coordinates,
    azure_errors,
    connect,
    default_credential,
    read_coordinates,
)
from mlops.targets.base import (
    ADOPTED_TAG,
    REGISTRY_PREFIX,
    DataAsset,
    Deployment,
    Endpoint,
    ModelNotFound,
    ModelVersion,
    PipelineRun,
    Printer,
    RunNotFound,
    Target,
    newest,
)


class AzureTarget(Target):
    name = "azure"
    token_resource = "https://ml.azure.com"  # endpoints are created with aad_token auth

    def __init__(self, settings, *, credential=None, transport=None, environ=None) -> None:
        """``credential`` and ``transport`` are azure-core's own extension points
        (default: ``DefaultAzureCredential`` and the SDK's HTTP transport)."""
        super().__init__(settings)
        self._environ = os.environ if environ is None else environ
        self._credential = credential
        self._transport = transport
        self._client = None
        self._coordinates: Coordinates | None = None
        self._graph: PipelineGraph | None = None
        self._datastore: str | None = None
        self._registry_client = None
        self.monitoring = AzureMonitoring(self)
        self.audit = AzureAudit(self)

    # the workspace

    @property
    def coordinates(self) -> Coordinates:
        if self._coordinates is None:
            self._coordinates = read_coordinates(self.settings.root, self._environ)
        return self._coordinates

    @property
    def client(self):
        """The signed-in ``MLClient``; the first use checks the workspace exists."""
        if self._client is None:
            if self._credential is None:
                self._credential = default_credential(self._environ)
            client = connect(self.coordinates, self._credential, self._transport)
            with azure_errors(self.coordinates):
                client.workspaces.get(self.coordinates.workspace)
            self._client = client
        return self._client

    @contextlib.contextmanager
    def _calls(self):
        with azure_errors(self.coordinates):
            yield self.client

    @property
    def cache(self) -> Path:
        return self.settings.state_folder() / "azure" / self.coordinates.workspace

    def preflight(self, deploying: bool) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        with self._calls():
            pass  # signs in and finds the workspace, or says which to fix
        if deploying:
            # The same checks as locally (file, code folder, scoring script), before any change.
            load_deployment_spec(self.settings.resolve(self.settings.endpoint.deployment))

    # data

    def register_data(self, source: Path | str) -> DataAsset:
        with self._calls() as client:
            return data.register(
                client,
                self._credential,
                str(source),
                self.settings.data,
                self.settings.pipeline.test_size,
            )

    def find_data(self, version: str | None = None) -> DataAsset | None:
        with self._calls() as client:
            return data.find(client, self.settings.data.asset_name, version)

    # pipeline runs

    def pipeline_graph(self) -> PipelineGraph:
        if self._graph is None:
            self._graph = load_pipeline(self.settings.resolve(self.settings.pipeline.file))
        return self._graph

    def serverless_graph(self) -> PipelineGraph:
        """The pipeline that evaluates a serverless fine-tune (``finetuning.PIPELINE_FILE``)."""
        return load_pipeline(self.settings.resolve(finetuning.PIPELINE_FILE))

    def run_pipeline(
        self,
        asset: DataAsset,
        inputs: Mapping[str, object],
        show: Printer,
        force_rerun: bool = False,
    ) -> PipelineRun:
        graph = self.pipeline_graph()
        require_inputs(graph, {*inputs, DATA_INPUT})
        commit, _ = git_state(self.settings.root)
        run_id = new_run_id()
        finetune = self.settings.finetune
        if finetune and finetune.backend == "serverless":
            return finetuning.run_serverless(self, asset, inputs, show, run_id, commit)
        with self._calls() as client:
            job = jobs.build_job(
                graph.path,
                run_id,
                asset,
                inputs,
                compute=self.coordinates.compute,
                experiment=self.settings.pipeline.experiment_name,
                datastore=self._default_datastore(),
                tags={jobs.DATA_TAG: asset.ref, jobs.COMMIT_TAG: commit},
                timeout_seconds=self.settings.azure.job_timeout_minutes * 60,
                instance_count=finetune.instance_count if finetune else None,
            )
            if force_rerun:  # else Azure ML reuses what the YAML lets it
                job.settings.force_rerun = True
            submitted = client.jobs.create_or_update(job)
            clock = time.perf_counter()
            try:
                show(f"run {run_id} on data {asset.ref}")
                if link := jobs.studio_url(submitted):
                    show(f"studio: {link}")
                finished, steps = jobs.watch(
                    client, run_id, graph, show, self.settings.azure.poll_seconds
                )
            except KeyboardInterrupt:
                jobs.cancel(client, run_id, show)
                raise
            return self.finished_run(client, finished, steps, clock)

    def finished_run(self, client, job, steps, clock: float) -> PipelineRun:
        """The ``PipelineRun`` of the ended pipeline job ``job`` (its ``steps`` as
        watched since ``clock``): its error if it failed, else its metrics."""
        run = jobs.to_run(job, steps)
        if not run.seconds:  # the job has not written when it ran: what was seen from here
            run = replace(run, seconds=round(time.perf_counter() - clock, 3))
        if run.status != "Completed":
            return replace(run, error=self._failure(client, job))
        try:
            return replace(run, metrics=self._metrics(run))
        except ValueError as problem:
            return replace(run, status="Failed", error=str(problem))

    def _failure(self, client, job) -> str:
        step, message = jobs.step_error(client, job.name, self.pipeline_graph())
        status = jobs.status_of(job)
        where = f"step {step!r} failed" if step else f"job {job.name} ended {status}"
        detail = f": {message}" if message else ""
        link = jobs.studio_url(job)
        return f"{where}{detail}" + (f" (see {link})" if link else "")

    def _default_datastore(self) -> str:
        if self._datastore is None:
            self._datastore = self.client.datastores.get_default().name
        return self._datastore

    def _metrics(self, run: PipelineRun) -> dict[str, float]:
        return read_metrics(self.output_path(run, METRICS_OUTPUT))

    def list_runs(self) -> list[PipelineRun]:
        experiment = self.settings.pipeline.experiment_name
        with self._calls() as client:
            found = [
                jobs.to_run(job)
                for job in client.jobs.list()
                if job.experiment_name == experiment and job.type == "pipeline"
            ]
        runs = [replace(run, metrics=self._cached_metrics(run)) for run in found]
        return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)

    def _cached_metrics(self, run: PipelineRun) -> dict[str, float]:
        folder = self._output_folder(run.run_id, METRICS_OUTPUT)
        try:
            return read_metrics(folder) if folder.is_dir() else {}
        except ValueError:
            return {}

    def get_run(self, run_id: str) -> PipelineRun:
        """The run named ``run_id``, or the newest for ``latest``, or the one run whose
        name starts with ``run_id``, as the local target takes them."""
        with self._calls() as client:
            job = self._find_job(client, run_id)
            if jobs.MODEL_TAG in (job.tags or {}):
                steps = finetuning.steps(client, job, self.serverless_graph())
            else:
                graph = self.pipeline_graph()
                children = jobs.step_children(client, job.name, graph)
                steps = tuple(
                    jobs.to_step(client, step.name, children.get(step.name)) for step in graph.steps
                )
            run = jobs.to_run(job, steps)
            if run.status == "Completed":
                with contextlib.suppress(ValueError, LookupError, OSError):
                    run = replace(run, metrics=self._metrics(run))
            elif run.status == "Failed":
                run = replace(run, error=self._failure(client, job))
        return run

    def _find_job(self, client, run_id: str):
        from azure.core.exceptions import ResourceNotFoundError

        if run_id and run_id != "latest":
            with contextlib.suppress(ResourceNotFoundError):
                return client.jobs.get(run_id)
        runs = self.list_runs()
        matches = (
            runs[:1]
            if run_id == "latest"
            else [r for r in runs if run_id and r.run_id.startswith(run_id)]
        )
        if len(matches) != 1:
            reason = "no run" if not matches else f"{len(matches)} runs"
            raise RunNotFound(f"{reason} matching {run_id!r} in the workspace (see `mlops runs`)")
        return client.jobs.get(matches[0].run_id)

    def _output_folder(self, run_id: str, name: str) -> Path:
        return self.cache / "runs" / run_id / name

    def output_path(self, run: PipelineRun, name: str) -> Path:
        if name not in run.outputs:
            raise ModelNotFound(f"run {run.run_id} has no output {name!r}")
        folder = self._output_folder(run.run_id, name)
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            with self._calls() as client:
                jobs.download_output(client, self._credential, run.outputs[name], folder)
        return folder

    def log_files(self, run: PipelineRun, folder: Path, artifact_path: str) -> None:
        # Beside the run's own outputs, so the reports sit with the run in storage.
        with self._calls() as client:
            container = storage.container(client, self._credential)
            prefix = jobs.OUTPUT_PATH.format(run=run.run_id, output=artifact_path)
            storage.upload_folder(container, folder, prefix)

    # model registry

    def register_model(self, run: PipelineRun, tags: Mapping[str, str]) -> ModelVersion:
        with self._calls() as client:
            name, source = self.settings.model.name, run.outputs[MODEL_OUTPUT]
            return models.register(client, name, run.run_id, source, tags)

    def get_model(self, version: str) -> ModelVersion:
        if version == "latest":
            missing = f"model {self.settings.model.name} has no version yet"
            return newest(self.list_models(), missing)
        with self._calls() as client:
            return models.get(client, self.settings.model.name, version)

    def list_models(self) -> list[ModelVersion]:
        with self._calls() as client:
            return models.list_versions(client, self.settings.model.name)

    def find_model(self, run_id: str) -> ModelVersion | None:
        with self._calls() as client:
            return models.find(client, self.settings.model.name, run_id)

    def set_model_tags(self, version: str, tags: Mapping[str, str]) -> None:
        with self._calls() as client:
            models.set_tags(client, self.settings.model.name, version, tags)

    def mark_champion(self, version: str) -> None:
        """Nothing to do: an Azure ML workspace's model registry has no aliases. The
        REST API's model versions carry tags and a free-text ``stage`` (no alias, and
        nothing unique per model); azure-ai-ml resolves only the label ``latest``
        (``models.get(name, label=...)``); Azure's MLflow support matrix lists no
        aliases, and the stages it lists are seen by MLflow alone (azureml-mlflow,
        which this control plane does not install). What marks the serving version
        here is the ``mlops.deployed_at`` tag the deploy writes (``DEPLOYED_TAG``): the
        champion is the version the endpoint serves or, when nothing serves, the one
        whose tag is the newest."""

    # the registry shared by the environments

    def workspace(self) -> str:
        return self.coordinates.describe()

    @contextlib.contextmanager
    def _registry_calls(self):
        """(registry name, signed-in ``MLClient`` on it), errors made plain."""
        name = registry.registry_name(self._environ)
        with azure_errors(self.coordinates), registry.registry_errors(name):
            if self._registry_client is None:
                if self._credential is None:
                    self._credential = default_credential(self._environ)
                self._registry_client = registry.connect(name, self._credential, self._transport)
            yield name, self._registry_client

    def promote_model(
        self,
        model: ModelVersion,
        tags: Mapping[str, str],
        sample: bytes,
        promoted_with: Path | None = None,
    ) -> ModelVersion:
        with self._registry_calls() as (name, client):
            versions = registry.list_versions(client, model.name)
        found = next((v for v in versions if v.digest and v.digest == model.digest), None)
        if found is not None:
            return found
        files = self._model_files(model)
        description = f"{model.ref} of {self.coordinates.workspace}, promoted by `mlops promote`"
        number = max((int(v.version) for v in versions if v.version.isdigit()), default=0) + 1
        with self._registry_calls() as (name, client):
            return registry.promote(
                client,
                name,
                model.name,
                str(number),
                files,
                tags,
                sample,
                description,
                promoted_with,
            )

    def _model_files(self, model: ModelVersion) -> Path:
        """The files of workspace version ``model``, downloaded once."""
        promoted = model.tags.get(ADOPTED_TAG)
        if promoted:
            folder = self._registry_folder(promoted.removeprefix(REGISTRY_PREFIX))
            if folder.is_dir():
                return folder
        if not model.run_id:
            raise ModelNotFound(f"model {model.ref} has no mlops.run_id tag: its files are unknown")
        return self.output_path(self.get_run(model.run_id), MODEL_OUTPUT)

    def _registry_folder(self, ref: str) -> Path:
        name, _, version = ref.rpartition(":")
        return self.settings.state_folder() / "azure" / "registry" / name / version

    def get_registry_model(self, version: str) -> ModelVersion:
        with self._registry_calls() as (_, client):
            if version == "latest":
                missing = f"the registry has no version of model {self.settings.model.name} yet"
                return newest(registry.list_versions(client, self.settings.model.name), missing)
            return registry.get(client, self.settings.model.name, version)

    def registry_sample(self, version: str) -> bytes | None:
        with self._registry_calls() as (name, client):
            return registry.sample(client, name, self.settings.model.name, version)

    def registry_promoted_with(self, version: str) -> Path | None:
        model = self.settings.model.name
        folder = self.settings.state_folder() / "azure" / "registry-promoted-with" / model / version
        with self._registry_calls() as (name, client):
            return registry.promoted_with(client, name, model, version, folder)

    def adopt_model(self, promoted: ModelVersion) -> ModelVersion:
        ref = f"{REGISTRY_PREFIX}{promoted.ref}"
        with self._calls() as client:
            versions = models.list_versions(client, promoted.name)
        existing = next((v for v in versions if v.tags.get(ADOPTED_TAG) == ref), None)
        if existing is not None:
            return existing
        with self._registry_calls() as (name, client):
            folder = registry.download(client, promoted, self._registry_folder(promoted.ref))
            asset = registry.asset_id(name, "models", promoted.name, promoted.version)
        tags = {**promoted.tags, ADOPTED_TAG: ref, registry.ASSET_TAG: asset}
        description = f"registry version {asset}, taken in by `mlops deploy`"
        with self._calls() as client:
            return models.register_files(client, promoted.name, folder, tags, description)

    # online endpoint

    def get_endpoint(self) -> Endpoint | None:
        with self._calls() as client:
            return endpoint.get(client, self.settings.endpoint.name)

    @contextlib.contextmanager
    def endpoint_lock(self, show: Printer):
        settings = self.settings.endpoint
        with self._calls() as client:
            container = storage.container(client, self._credential)
            with lease.endpoint_lease(container, settings.name, settings.lock_wait_seconds, show):
                yield

    def resume_endpoint(self, show: Printer) -> None:
        # A managed endpoint does not stop; only what an interrupted deploy left is removed.
        current = self.get_endpoint()
        if current is None:
            return
        for deployment in current.deployments:
            if current.traffic.get(deployment.name, 0) == 0:
                show(f"removing deployment {deployment.name}: an interrupted deploy left it")
                self.delete_deployment(deployment.name)
        if not current.deployments or all(
            current.traffic.get(d.name, 0) == 0 for d in current.deployments
        ):
            show(f"removing endpoint {current.name}: no deployment is left on it")
            self.delete_endpoint()

    def deployment_name(self, model: ModelVersion, serving: Deployment | None) -> str:
        name = endpoint.deployment_name(model)
        if serving is None or serving.name != name:
            return name
        # The same version again with other files (a registry reset): a second name.
        return f"{name[:30].rstrip('-')}-b"

    def create_deployment(self, name: str, model: ModelVersion, show: Printer) -> Deployment:
        with self._calls() as client:
            return endpoint.create_deployment(client, self.settings, name, model, show)

    def invoke(self, body: bytes, deployment: str | None = None) -> tuple[int, bytes]:
        with self._calls() as client:
            return endpoint.invoke(client, self.settings.endpoint.name, body, deployment)

    def set_traffic(self, traffic: Mapping[str, int]) -> None:
        with self._calls() as client:
            endpoint.set_traffic(client, self.settings.endpoint.name, traffic)

    def delete_deployment(self, name: str, keep_log: Path | None = None) -> Path | None:
        with self._calls() as client:
            return endpoint.delete_deployment(client, self.settings.endpoint.name, name, keep_log)

    def delete_endpoint(self) -> None:
        with self._calls() as client:
            endpoint.delete_endpoint(client, self.settings.endpoint.name)
