"""The local target: the whole lifecycle on this machine, with real parts.

Data assets are content-addressed copies, the pipeline YAML is loaded with
azure-ai-ml's loader and its steps run as local processes, and tracking is
MLflow with a SQLite store. Everything lives under ``state_dir``
(``.mlops/`` by default).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlops.deployment_spec import DeploymentSpec
from mlops.errors import UserError
from mlops.kinds import get_kind
from mlops.pipeline_graph import PipelineGraph, require_inputs
from mlops.runs import DATA_INPUT, METRICS_OUTPUT, MODEL_OUTPUT, new_run_id, read_metrics
from mlops.settings import SettingsError
from mlops.targets.base import (
    ADOPTED_TAG,
    CHAMPION_ALIAS,
    REGISTRY_PREFIX,
    DataAsset,
    Deployment,
    Endpoint,
    ModelNotFound,
    ModelVersion,
    PipelineRun,
    Printer,
    StepRun,
    Target,
)
from mlops.targets.local.audit import LocalAudit
from mlops.targets.local.child_env import child_env
from mlops.targets.local.data import LocalDataStore
from mlops.targets.local.endpoint import LocalEndpoint
from mlops.targets.local.files import private_folder
from mlops.targets.local.location import settle
from mlops.targets.local.monitoring import LocalMonitoring
from mlops.targets.local.reuse import StepReuse
from mlops.targets.local.runs import LocalRunStore
from mlops.targets.local.steps import run_steps
from mlops.targets.local.user_cache import cache_folder
from mlops.targets.local.warm_steps import WarmStart
from mlops.targets.local.yaml_cache import YamlCache, cached_load
from mlops.task import model_kind

CACHE = "cache"
STEPS_CACHE = "steps"  # under CACHE: the records of reusable steps


class LocalTarget(Target):
    name = "local"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.state_dir = settings.state_folder()
        # A moved or copied state folder names its files where it is now.
        self.state_base = settings.resolve(settings.state_dir)
        settle(self.state_base)
        self.data = LocalDataStore(self.state_dir / "data")
        self.runs = LocalRunStore(self.state_dir / "runs")
        self.endpoint = LocalEndpoint(
            self.state_dir / "endpoints",
            settings.endpoint.name,
            settings.endpoint_port(),
            settings.endpoint.lock_wait_seconds,
            port_setting=settings.port_setting(),
        )
        self.monitoring = LocalMonitoring(
            self.state_dir, settings.endpoint.name, settings.pipeline.experiment_name
        )
        self.audit = LocalAudit(self.state_dir)
        self._registry = None
        self._shared = None  # the registry shared by the environments, once opened
        self._spec = None  # the deployment YAML, once read
        self._graph = None  # the pipeline YAML, once loaded
        # What the loader made of the YAML depends on the files alone: environments,
        # and other checkouts of the same files, share it.
        self._yaml_cache = YamlCache(cache_folder() / "yaml", settings.root)

    @property
    def registry(self):
        # MLflow costs seconds to import; only the registry verbs need it.
        if self._registry is None:
            from mlops.targets.local.registry import LocalRegistry
            from mlops.targets.local.tracking import tracking_uri

            self.state_dir.mkdir(parents=True, exist_ok=True)
            settle(self.state_base)
            name = self.settings.model.name
            self._registry = LocalRegistry(
                tracking_uri(self.state_dir),
                name,
                in_use=lambda: max(self.endpoint.versions_in_use(name), default=0),
            )
        return self._registry

    def preflight(self, deploying: bool) -> None:
        self._check_state_dir()
        if deploying:
            self._load_spec()
            self.endpoint.check_port()

    def _check_state_dir(self) -> None:
        try:
            # Created owner-only, whatever the umask: the MLflow store, run records
            # and endpoint state in it name the files a deploy serves.
            # The fork's state folder too: it holds every model's.
            for folder in (self.state_base, self.state_dir):
                if not folder.exists():
                    private_folder(folder)
            with tempfile.TemporaryFile(dir=self.state_dir):
                pass
            settle(self.state_base)
        except OSError as error:
            raise SettingsError(
                f"{self.settings.fork_source}: state_dir: {self.state_dir} cannot hold the "
                f"local state ({error.strerror or error}); point it at a writable folder"
            ) from None

    def register_data(self, source: Path | str) -> DataAsset:
        if isinstance(source, str):
            raise SettingsError(
                f"{self.settings.source}: data.path: {source} is in an Azure ML datastore, which "
                "only target: azure reads; point data.path at a file on this machine"
            )
        return self.data.register(source, self.settings.data, self.settings.pipeline.test_size)

    def find_data(self, version: str | None = None) -> DataAsset | None:
        name = self.settings.data.asset_name
        return self.data.get(name, version) if version else self.data.latest(name)

    def list_runs(self) -> list[PipelineRun]:
        return self.runs.list()

    def get_run(self, run_id: str) -> PipelineRun:
        return self.runs.get(run_id)

    def output_path(self, run: PipelineRun, name: str) -> Path:
        if name not in run.outputs:
            raise ModelNotFound(f"run {run.run_id} has no output {name!r}")
        return Path(run.outputs[name])

    def log_files(self, run: PipelineRun, folder: Path, artifact_path: str) -> None:
        if run.tracking_run_id:
            self.registry.log_files(run.tracking_run_id, folder, artifact_path)

    # model registry: MLflow's, in the SQLite store

    def register_model(self, run: PipelineRun, tags: Mapping[str, str]) -> ModelVersion:
        return self.registry.register(run, self.output_path(run, MODEL_OUTPUT), tags)

    def get_model(self, version: str) -> ModelVersion:
        return self.registry.get(version)

    def list_models(self) -> list[ModelVersion]:
        return self.registry.list()

    def find_model(self, run_id: str) -> ModelVersion | None:
        return self.registry.find(run_id)

    def set_model_tags(self, version: str, tags: Mapping[str, str]) -> None:
        self.registry.set_tags(version, tags)

    def mark_champion(self, version: str) -> None:
        self.registry.set_alias(CHAMPION_ALIAS, version)

    # the registry the local environments share

    def workspace(self) -> str:
        return f"local:{self.settings.env or 'default'} ({self.state_dir})"

    @property
    def shared_registry(self):
        if self._shared is None:
            from mlops.targets.local.shared_registry import SharedRegistry

            self._shared = SharedRegistry(self.settings.registry_folder(), self.settings.model.name)
        return self._shared

    def promote_model(
        self,
        model: ModelVersion,
        tags: Mapping[str, str],
        sample: bytes,
        promoted_with: Path | None = None,
    ) -> ModelVersion:
        return self.shared_registry.promote(_model_dir(model), tags, sample, promoted_with)

    def get_registry_model(self, version: str) -> ModelVersion:
        return self.shared_registry.get(version)

    def registry_sample(self, version: str) -> bytes | None:
        return self.shared_registry.sample(version)

    def registry_promoted_with(self, version: str) -> Path | None:
        return self.shared_registry.promoted_with(version)

    def adopt_model(self, promoted: ModelVersion) -> ModelVersion:
        tags = {**promoted.tags, ADOPTED_TAG: f"{REGISTRY_PREFIX}{promoted.ref}"}
        return self.registry.adopt(promoted, tags)

    # endpoint: a router and azureml-inference-server-http processes

    def get_endpoint(self) -> Endpoint | None:
        return self.endpoint.get()

    def endpoint_lock(self, show: Printer):
        return self.endpoint.lock(show)

    def resume_endpoint(self, show: Printer) -> None:
        self.endpoint.resume(show)

    def create_deployment(self, name: str, model: ModelVersion, show: Printer) -> Deployment:
        spec = self._load_spec().sampled(self.settings.monitor.sampling_rate)
        chat = get_kind(model_kind(model, self.settings.kind)).family.chat
        return self.endpoint.create_deployment(
            name, model.ref, _model_dir(model), spec, show, chat=chat
        )

    def _spec_path(self) -> Path:
        return self.settings.resolve(self.settings.endpoint.deployment)

    def invoke(self, body: bytes, deployment: str | None = None) -> tuple[int, bytes]:
        return self.endpoint.invoke(body, deployment)

    def set_traffic(self, traffic: Mapping[str, int]) -> None:
        self.endpoint.set_traffic(traffic)

    def delete_deployment(self, name: str, keep_log: Path | None = None) -> Path | None:
        return self.endpoint.delete_deployment(name, keep_log)

    def delete_endpoint(self) -> None:
        self.endpoint.delete()

    def pipeline_graph(self) -> PipelineGraph:
        # Loaded once per command: the run is of the very graph the preflight checked.
        if self._graph is None:
            self._graph = self._load_graph()
        return self._graph

    def run_pipeline(
        self,
        asset: DataAsset,
        inputs: Mapping[str, object],
        show: Printer,
        force_rerun: bool = False,
    ) -> PipelineRun:
        graph = self.pipeline_graph()
        require_inputs(graph, {*inputs, DATA_INPUT})
        values = {**graph.inputs, **inputs, DATA_INPUT: asset.path}

        run_id = new_run_id()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        clock = time.perf_counter()
        from mlops.targets.local.tracking import STEP_IMPORTS, RunTracking  # MLflow: a thread

        tracking = RunTracking(
            self.state_dir,
            self.settings.pipeline.experiment_name,
            run_id,
            {"mlops.data_asset": asset.ref},
        )
        show(f"run {run_id} on data {asset.ref}")
        if self.settings.finetune and self.settings.finetune.backend == "serverless":
            # Serverless fine-tuning is Azure's service: here the pipeline stands in.
            show(f"finetune.backend serverless is Azure's: this machine runs {graph.path.name}")
        reuse = None
        if not (force_rerun or graph.force_rerun):
            cache = self.state_dir / CACHE / STEPS_CACHE
            reuse = StepReuse(cache, self.runs.root, run_id, self.state_base)
        run_dir = private_folder(self.runs.folder(run_id))
        warm = None
        if self.settings.local.warm_steps:
            warm = WarmStart(child_env(), STEP_IMPORTS, label=str(run_dir))
        with warm or contextlib.nullcontext():
            result = run_steps(
                graph,
                values,
                run_dir,
                show,
                lambda step: child_env(tracking.step_env(step.name)),
                reuse=reuse,
                warm=warm,
            )
        error, metrics = _failure(result.failed), {}
        if result.canceled:
            error = "interrupted (Ctrl-C or SIGTERM): the running step was stopped"
        elif result.ok:
            try:
                metrics = read_metrics(result.outputs.get(METRICS_OUTPUT))
            except ValueError as problem:
                error = str(problem)
        status = "Canceled" if result.canceled else "Failed" if error else "Completed"
        run = PipelineRun(
            run_id=run_id,
            status=status,
            data_asset=asset.ref,
            started=started,
            seconds=round(time.perf_counter() - clock, 3),
            steps=tuple(result.steps),
            outputs=result.outputs,
            metrics=metrics,
            tracking_run_id=None,
            error=error,
        )
        try:
            run = replace(run, tracking_run_id=tracking.finish(status, result.steps, metrics))
        finally:
            self.runs.save(run)  # recorded even when the tracking store failed
        if result.canceled:
            show(f"run {run_id} canceled and recorded (see `mlops show {run_id}`)")
            raise KeyboardInterrupt
        return run

    def _load_graph(self) -> PipelineGraph:
        cache = self._yaml_cache
        pipeline = self.settings.resolve(self.settings.pipeline.file)
        if (graph := cache.pipeline(pipeline)) is not None:
            return graph
        # The loader runs in a second process, and the deploy that follows a
        # run needs the deployment YAML: that process reads it too.
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            loading = cached_load(cache, "pipeline", pipeline, pool.submit)
            spec = None
            if self._spec is None and self._spec_path().is_file():
                spec = cached_load(cache, "deployment", self._spec_path(), pool.submit)
            # Meanwhile, a first run creates the MLflow store (seconds of its own).
            from mlops.targets.local.tracking import ensure_experiment

            ensure_experiment(self.state_dir, self.settings.pipeline.experiment_name)
            if spec is not None:
                with contextlib.suppress(UserError):
                    self._spec = spec()
            return loading()

    def _load_spec(self) -> DeploymentSpec:
        if self._spec is None:
            self._spec = cached_load(self._yaml_cache, "deployment", self._spec_path())()
        return self._spec


def _model_dir(model: ModelVersion) -> Path:
    # A local registry's source is a file: URI of the folder holding the MLmodel.
    return Path(unquote(urlparse(model.source).path))


def _failure(step: StepRun | None) -> str | None:
    if step is None:
        return None
    if step.exit_code is None:
        return f"step {step.name!r} could not start"
    return f"step {step.name!r} failed with exit code {step.exit_code} (log: {step.log})"
