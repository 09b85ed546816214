"""The local target: the whole lifecycle on this machine, with real parts.

Data assets are content-addressed copies, the pipeline YAML is loaded with
azure-ai-ml's loader and its steps run as local processes, and tracking is
MLflow with a SQLite store. Everything lives under ``local.state_dir``
(``.mlops/`` by default).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlops.deployment_spec import load_deployment_spec
from mlops.targets.base import (
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
from mlops.targets.local.data import LocalDataStore
from mlops.targets.local.endpoint import LocalEndpoint
from mlops.targets.local.pipeline_graph import PipelineError, load_pipeline
from mlops.targets.local.runs import LocalRunStore, new_run_id
from mlops.targets.local.steps import run_steps

MODEL_OUTPUT = "model"
METRICS_OUTPUT = "metrics"
METRICS_FILE = "metrics.json"
DATA_INPUT = "raw_data"


class LocalTarget(Target):
    name = "local"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.state_dir = settings.resolve(settings.local.state_dir)
        self.data = LocalDataStore(self.state_dir / "data")
        self.runs = LocalRunStore(self.state_dir / "runs")
        self.endpoint = LocalEndpoint(
            self.state_dir / "endpoints", settings.endpoint.name, settings.local.endpoint_port
        )
        self._registry = None
        self._spec = None  # the deployment YAML, once read

    @property
    def registry(self):
        # MLflow costs seconds to import; only the registry verbs need it.
        if self._registry is None:
            from mlops.targets.local.registry import LocalRegistry
            from mlops.targets.local.tracking import tracking_uri

            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._registry = LocalRegistry(tracking_uri(self.state_dir), self.settings.model.name)
        return self._registry

    def register_data(self, path: Path) -> DataAsset:
        return self.data.register(path, self.settings.data)

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
            self.registry.client.log_artifacts(run.tracking_run_id, str(folder), artifact_path)

    # model registry: MLflow's, in the SQLite store

    def register_model(self, run: PipelineRun, tags: Mapping[str, str]) -> ModelVersion:
        return self.registry.register(run, self.output_path(run, MODEL_OUTPUT), tags)

    def get_model(self, version: str) -> ModelVersion:
        return self.registry.get(version)

    def list_models(self) -> list[ModelVersion]:
        return self.registry.list()

    def find_model(self, run_id: str) -> ModelVersion | None:
        return self.registry.find(run_id)

    # endpoint: a router and azureml-inference-server-http processes

    def get_endpoint(self) -> Endpoint | None:
        return self.endpoint.get()

    def endpoint_lock(self):
        return self.endpoint.lock()

    def resume_endpoint(self, show: Printer) -> None:
        self.endpoint.resume(show)

    def create_deployment(self, name: str, model: ModelVersion, show: Printer) -> Deployment:
        spec = self._spec or load_deployment_spec(self._spec_path())
        model_dir = Path(unquote(urlparse(model.source).path))
        return self.endpoint.create_deployment(name, model.ref, model_dir, spec, show)

    def _spec_path(self) -> Path:
        return self.settings.resolve(self.settings.endpoint.deployment)

    def invoke(self, body: bytes, deployment: str | None = None) -> tuple[int, bytes]:
        return self.endpoint.invoke(body, deployment)

    def set_traffic(self, traffic: Mapping[str, int]) -> None:
        self.endpoint.set_traffic(traffic)

    def delete_deployment(self, name: str) -> None:
        self.endpoint.delete_deployment(name)

    def delete_endpoint(self) -> None:
        self.endpoint.delete()

    def run_pipeline(
        self, asset: DataAsset, inputs: Mapping[str, object], show: Printer
    ) -> PipelineRun:
        # azure-ai-ml and MLflow each take seconds to import and set up, and
        # neither needs the other: the YAML is loaded in a second process
        # while this one opens the tracking store.
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            loading = pool.submit(load_pipeline, self.settings.resolve(self.settings.pipeline.file))
            # The deploy that follows a run needs the deployment YAML, read by the
            # same loader; reading it here, where that is imported, is nearly free.
            spec = pool.submit(load_deployment_spec, self._spec_path())
            from mlops.targets.local.tracking import LocalTracking  # imports MLflow

            tracking = LocalTracking(self.state_dir, self.settings.pipeline.experiment_name)
            graph = loading.result()
        if spec.exception() is None:
            self._spec = spec.result()
        unknown = sorted((set(inputs) | {DATA_INPUT}) - set(graph.inputs))
        if unknown:
            raise PipelineError(f"{graph.path}: no pipeline input named {', '.join(unknown)}")
        values = {**graph.inputs, **inputs, DATA_INPUT: asset.path}

        run_id = new_run_id()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        clock = time.perf_counter()
        lineage = {"mlops.run_id": run_id, "mlops.data_asset": asset.ref}
        parent = tracking.start(run_id, lineage)
        children: dict[str, str] = {}
        base_env = _process_env()

        def step_env(step) -> dict[str, str]:
            children[step.name] = tracking.start(step.name, lineage, parent=parent)
            return {**base_env, **tracking.step_env(children[step.name])}

        def step_done(step, result: StepRun) -> None:
            if step.name in children:
                tracking.finish(children[step.name], result.status == "Completed")

        show(f"run {run_id} on data {asset.ref}")
        try:
            result = run_steps(graph, values, self.runs.folder(run_id), show, step_env, step_done)
        except BaseException:
            # Interrupted: the MLflow run must not stay "running" for ever.
            tracking.finish(parent, ok=False)
            raise
        error, metrics = _failure(result.failed), {}
        if result.ok:
            try:
                metrics = read_metrics(result.outputs.get(METRICS_OUTPUT))
            except ValueError as problem:
                error = str(problem)
        run = PipelineRun(
            run_id=run_id,
            status="Failed" if error else "Completed",
            data_asset=asset.ref,
            started=started,
            seconds=round(time.perf_counter() - clock, 3),
            steps=tuple(result.steps),
            outputs=result.outputs,
            metrics=metrics,
            tracking_run_id=parent,
            error=error,
        )
        tracking.finish(parent, not error, metrics)
        self.runs.save(run)
        return run


def _process_env() -> dict[str, str]:
    # Steps run with this interpreter's environment first on PATH, so the
    # command's `python` is the one that has the model code's packages.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def read_metrics(folder: str | None) -> dict[str, float]:
    """The pipeline's metrics: ``metrics.json`` in its ``metrics`` output folder,
    a flat object of numbers. Raises ValueError saying what is wrong."""
    if not folder:
        raise ValueError(f"the pipeline has no output {METRICS_OUTPUT!r} (see pipeline.file)")
    path = Path(folder) / METRICS_FILE
    try:
        values = json.loads(path.read_text())
        return {str(k): float(v) for k, v in values.items()}
    except OSError:
        raise ValueError(f"{path}: the pipeline wrote no metrics file") from None
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{path}: expected a JSON object of numbers") from None


def _failure(step: StepRun | None) -> str | None:
    if step is None:
        return None
    if step.exit_code is None:
        return f"step {step.name!r} could not start"
    return f"step {step.name!r} failed with exit code {step.exit_code} (log: {step.log})"
