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

from mlops.pipeline_graph import PipelineError, load_pipeline
from mlops.targets.base import DataAsset, PipelineRun, Printer, StepRun, Target
from mlops.targets.local_data import LocalDataStore
from mlops.targets.local_runs import LocalRunStore, new_run_id
from mlops.targets.local_steps import run_steps

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

    def register_data(self, path: Path) -> DataAsset:
        return self.data.register(path, self.settings.data)

    def find_data(self, version: str | None = None) -> DataAsset | None:
        name = self.settings.data.asset_name
        return self.data.get(name, version) if version else self.data.latest(name)

    def list_runs(self) -> list[PipelineRun]:
        return self.runs.list()

    def get_run(self, run_id: str) -> PipelineRun:
        return self.runs.get(run_id)

    def run_pipeline(
        self, asset: DataAsset, inputs: Mapping[str, object], show: Printer
    ) -> PipelineRun:
        # azure-ai-ml and MLflow each take seconds to import and set up, and
        # neither needs the other: the YAML is loaded in a second process
        # while this one opens the tracking store.
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            loading = pool.submit(load_pipeline, self.settings.resolve(self.settings.pipeline.file))
            from mlops.targets.local_tracking import LocalTracking  # imports MLflow

            tracking = LocalTracking(self.state_dir, self.settings.pipeline.experiment_name)
            graph = loading.result()
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
