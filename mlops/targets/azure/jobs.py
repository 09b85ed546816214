"""Pipeline jobs on Azure ML: submit ``pipeline.file``, follow its steps, read its outputs.

The job is the pipeline YAML loaded by azure-ai-ml (``load_job``), as
``az ml job create`` would submit it, with ``mlops``'s inputs bound, the
compute, experiment, tags and a name chosen here, so that every output's
place in the default datastore is known before the job runs
(``mlops/runs/<job>/<output>/``): outputs are then read even where the SDK's
own download fails (see ``download_output``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from mlops.pipeline_graph import PipelineGraph
from mlops.runs import DATA_INPUT
from mlops.targets.azure import storage
from mlops.targets.base import DataAsset, PipelineRun, Printer, StepRun

TERMINAL = {"Completed", "Failed", "Canceled", "NotResponding"}
RUNNING = {"Running", "Finalizing", "CancelRequested"}
DATA_TAG = "mlops.data_asset"
COMMIT_TAG = "mlops.git_commit"
OUTPUT_PATH = "mlops/runs/{run}/{output}/"


def output_uri(datastore: str, run_id: str, output: str) -> str:
    """Where output ``output`` of job ``run_id`` is written (set at submit)."""
    path = OUTPUT_PATH.format(run=run_id, output=output)
    return f"azureml://datastores/{datastore}/paths/{path}"


def build_job(
    path: Path,
    run_id: str,
    asset: DataAsset,
    inputs: Mapping[str, object],
    *,
    compute: str | None,
    experiment: str,
    datastore: str,
    tags: Mapping[str, str],
    timeout_seconds: int,
):
    """The pipeline job to submit: ``path`` loaded, with ``asset`` bound to
    ``raw_data`` (as ``azureml:NAME:VERSION``), ``inputs`` bound (a ``Path`` is a
    local file the SDK uploads), and every output placed under ``run_id``."""
    from azure.ai.ml import Input, load_job

    job = load_job(path)
    job.name = run_id
    job.experiment_name = experiment
    job.tags = {**(job.tags or {}), **tags}
    # Attribute assignment: the job's input dict wraps each value as a pipeline input.
    setattr(
        job.inputs, DATA_INPUT, Input(type="uri_file", path=f"azureml:{asset.name}:{asset.version}")
    )
    for name, value in inputs.items():
        if isinstance(value, Path):
            value = Input(type="uri_file", path=str(value))
        setattr(job.inputs, name, value)
    if compute:
        job.settings.default_compute = compute
    for name, output in job.outputs.items():
        output.path = output_uri(datastore, run_id, name)
    for node in job.jobs.values():
        with contextlib.suppress(AttributeError):  # only command steps take limits
            node.set_limits(timeout=timeout_seconds)
    return job


def watch(ml_client, run_id: str, graph: PipelineGraph, show: Printer, poll_seconds: float):
    """Follow job ``run_id`` to its end, printing each step as it starts and ends
    (the lines of the local runner). Returns the finished job and its steps.
    A Ctrl-C is raised as it comes; the caller cancels the job."""
    started: dict[str, float] = {}
    done: dict[str, StepRun] = {}
    total = len(graph.steps)
    while True:
        job = ml_client.jobs.get(run_id)
        children = step_children(ml_client, run_id, graph)
        for index, step in enumerate(graph.steps, start=1):
            child = children.get(step.name)
            status = child.status if child is not None else "NotStarted"
            label = f"[{index}/{total}] {step.name}"
            if status in RUNNING | TERMINAL and step.name not in started:
                started[step.name] = time.monotonic()
                show(f"{label}: {step.display_name}")
            if status in TERMINAL and step.name not in done:
                # The run's own record when it has one; else what was seen from here.
                seconds = to_step(step.name, child).seconds or (
                    time.monotonic() - started[step.name]
                )
                done[step.name] = StepRun(step.name, status, round(seconds, 3))
                mark = {"Completed": "completed", "Canceled": "canceled"}.get(status, "failed")
                show(f"{label} {mark} in {seconds:.1f} s")
        if job.status in TERMINAL:
            break
        time.sleep(poll_seconds)
    steps = tuple(done.get(step.name) or StepRun(step.name, "NotStarted") for step in graph.steps)
    return job, steps


def cancel(ml_client, run_id: str, show: Printer) -> None:
    """Cancel job ``run_id`` (Ctrl-C, or a CI runner's SIGTERM), saying so."""
    show(f"run {run_id}: canceling the job on Azure ML")
    try:
        ml_client.jobs.begin_cancel(run_id).result()
    except Exception as error:  # the interruption is what the user asked for; say what is left
        show(f"run {run_id}: could not cancel it ({error}); cancel it in the studio")
        return
    show(f"run {run_id} canceled (see `mlops show {run_id}`)")


def step_children(ml_client, run_id: str, graph: PipelineGraph) -> dict:
    # A child run is named by its step, or by the step component's display name.
    by_label = {}
    for step in graph.steps:
        by_label[step.name] = step.name
        by_label.setdefault(step.display_name, step.name)
    found = {}
    for child in ml_client.jobs.list(parent_job_name=run_id):
        step = by_label.get(child.display_name) or by_label.get(child.name)
        if step is not None:
            found[step] = child
    return found


def step_error(ml_client, run_id: str, graph: PipelineGraph) -> tuple[str | None, str | None]:
    """(step name, its error message) of the first failed step of job ``run_id``."""
    children = step_children(ml_client, run_id, graph)
    for step in graph.steps:
        child = children.get(step.name)
        if child is not None and child.status == "Failed":
            return step.name, _run_error(ml_client, child.name)
    return None, None


def _run_error(ml_client, child_id: str) -> str | None:
    # The step's own error is in its run history record; the SDK exposes it only
    # through its run operations.
    try:
        details = ml_client.jobs._runs_operations.get_run_details(child_id)
        return details.error.error.message
    except Exception:  # the message is a courtesy; the status says it failed
        return None


def to_step(name: str, child) -> StepRun:
    """The ``StepRun`` of a finished job's child run (None: it never started)."""
    if child is None:
        return StepRun(name, "NotStarted")
    _, seconds = _span(child)
    return StepRun(name, child.status or "NotStarted", seconds)


def _span(job) -> tuple[datetime | None, float]:
    # When a job (or step) was created, and seconds from then to its last change.
    context = job.creation_context
    created = getattr(context, "created_at", None)
    modified = getattr(context, "last_modified_at", None)
    if not isinstance(created, datetime):
        return None, 0.0
    if not isinstance(modified, datetime):
        return created, 0.0
    return created, round(max(0.0, (modified - created).total_seconds()), 3)


def to_run(job, steps: tuple[StepRun, ...] = (), error: str | None = None) -> PipelineRun:
    """The ``PipelineRun`` of a job as azure-ai-ml returns it."""
    created, seconds = _span(job)
    return PipelineRun(
        run_id=job.name,
        status=job.status,
        data_asset=(job.tags or {}).get(DATA_TAG, "?"),
        started=created.isoformat(timespec="seconds") if created else "",
        seconds=seconds,
        steps=steps,
        outputs={name: f"azureml://jobs/{job.name}/outputs/{name}" for name in job.outputs or {}},
        error=error,
    )


def studio_url(job) -> str | None:
    services = getattr(job, "services", None) or {}
    studio = services.get("Studio")
    return getattr(studio, "endpoint", None)


def download_output(ml_client, credential, run_id: str, output: str, folder: Path) -> None:
    """Download output ``output`` of job ``run_id`` into the new folder ``folder``.

    ``jobs.download`` first. azure-ai-ml 1.33 to 1.35.2 raise ``TypeError`` there
    for a model-typed output (``BatchGetResolvedUrisDto(values=...)``, against
    Azure too); the output is then read straight from where ``build_job`` placed
    it in the default datastore."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output}-", dir=folder.parent))
    try:
        try:
            ml_client.jobs.download(run_id, output_name=output, download_path=staging)
            downloaded = staging / "named-outputs" / output
            if not downloaded.is_dir():
                raise storage.StorageError(f"run {run_id} has no files in its output {output!r}")
            storage.move_into_place(downloaded, folder)
            return
        except TypeError as error:
            if "BatchGetResolvedUrisDto" not in str(error):
                raise
        client = storage.container(ml_client, credential)
        count = storage.download_prefix(
            client, OUTPUT_PATH.format(run=run_id, output=output), folder
        )
        if not count:
            raise storage.StorageError(f"run {run_id} has no files in its output {output!r}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
