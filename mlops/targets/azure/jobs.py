"""Pipeline jobs on Azure ML: submit ``pipeline.file``, follow its steps, read its outputs.

The job is the pipeline YAML loaded by azure-ai-ml (``load_job``), as
``az ml job create`` would submit it, with ``mlops``'s inputs bound, the
compute, experiment, tags and a name chosen here, so that every output's
place in the default datastore is known before the job runs
(``mlops/runs/<job>/<output>/``): outputs are then read even where the SDK's
own download fails (see ``download_output``).

Statuses are Azure's words (``words.word``), and times are what Azure
recorded: a job's from the start and end it writes in its properties once it
ends (``STAGES``), a step's from its run-history record (start to end, not the
time it waited for a node).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from mlops.pipeline_graph import PipelineGraph
from mlops.runs import DATA_INPUT, MODEL_OUTPUT, TEST_DATA_OUTPUT
from mlops.targets.azure import storage
from mlops.targets.azure.words import word
from mlops.targets.base import DataAsset, PipelineRun, Printer, StepRun

TERMINAL = {"Completed", "Failed", "Canceled", "NotResponding"}
RUNNING = {"Running", "Finalizing", "CancelRequested"}
DATA_TAG = "mlops.data_asset"
COMMIT_TAG = "mlops.git_commit"
# On a job that evaluates a model another job made (serverless fine-tuning):
# that job's output, azureml://jobs/<job>/outputs/<output>, the run's model.
MODEL_TAG = "mlops.model_output"
JOB_OUTPUT = re.compile(r"azureml://jobs/(?P<job>[^/]+)/outputs/(?P<output>[^/]+)")
OUTPUT_PATH = "mlops/runs/{run}/{output}/"
# A pipeline job's property holding, once it ended, when it ran:
# {"Initialization": null, "Execution": {"StartTime": ..., "EndTime": ..., "Status": ...}}
STAGES = "azureml.pipelines.stages"
# Input types whose value is a path or an asset's URI, not a literal.
ASSET_TYPES = frozenset(
    {"uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model"}
)


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
    instance_count: int | None = None,
):
    """The pipeline job to submit: ``path`` loaded, with ``asset`` bound to
    ``raw_data`` (as ``azureml:NAME:VERSION``), ``inputs`` bound (a ``Path`` is a
    local file the SDK uploads; a path or ``azureml:`` URI given to an input the
    YAML declares a file, folder or model goes as that type), every output
    placed under ``run_id``, and, with ``instance_count``, that many nodes for
    each step written to scale out (``distribution``)."""
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
        declared = getattr(job.inputs.get(name), "_data", None)
        kind = getattr(declared, "type", None)
        if kind in ASSET_TYPES and isinstance(value, Path | str):
            # A file, folder or model: a literal string would reach the step as text.
            value = Input(type=kind, path=str(value))
        elif isinstance(value, Path):
            value = Input(type="uri_file", path=str(value))
        setattr(job.inputs, name, value)
    if compute:
        job.settings.default_compute = compute
    if instance_count is not None:
        for node in job.jobs.values():
            if getattr(node, "distribution", None) is not None:  # written to scale out
                node.resources.instance_count = instance_count
    for name, output in job.outputs.items():
        output.path = output_uri(datastore, run_id, name)
    for node in job.jobs.values():
        with contextlib.suppress(AttributeError):  # only command steps take limits
            node.set_limits(timeout=timeout_seconds)
    return job


def watch(
    ml_client,
    run_id: str,
    graph: PipelineGraph,
    show: Printer,
    poll_seconds: float,
    numbering: tuple[int, int] | None = None,
):
    """Follow job ``run_id`` to its end, printing each step as it starts and ends
    (the lines of the local runner), numbered from 1 of the graph's steps, or
    from ``numbering`` (first, total) when the job is part of a longer run.
    Returns the finished job and its steps. A Ctrl-C is raised as it comes; the
    caller cancels the job."""
    started: dict[str, float] = {}
    done: dict[str, StepRun] = {}
    first, total = numbering or (1, len(graph.steps))
    while True:
        job = ml_client.jobs.get(run_id)
        children = step_children(ml_client, run_id, graph)
        for index, step in enumerate(graph.steps, start=first):
            child = children.get(step.name)
            status = word(child.status, "NotStarted") if child is not None else "NotStarted"
            label = f"[{index}/{total}] {step.name}"
            if status in RUNNING | TERMINAL and step.name not in started:
                started[step.name] = time.monotonic()
                show(f"{label}: {step.display_name}")
            if status in TERMINAL and step.name not in done:
                seconds = recorded_seconds(ml_client, child.name)
                if seconds is None:  # no record of when it ran: what was seen from here
                    seconds = round(time.monotonic() - started[step.name], 3)
                done[step.name] = StepRun(step.name, status, seconds)
                mark = {"Completed": "completed", "Canceled": "canceled"}.get(status, "failed")
                show(f"{label} {mark} in {seconds:.1f} s")
        if status_of(job) in TERMINAL:
            break
        time.sleep(poll_seconds)
    steps = tuple(done.get(step.name) or StepRun(step.name, "NotStarted") for step in graph.steps)
    return job, steps


def status_of(job) -> str:
    """Azure's word for the status of ``job`` (an azure-ai-ml ``Job``)."""
    return word(job.status, "NotStarted")


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
        if child is not None and word(child.status, "") == "Failed":
            return step.name, _run_error(ml_client, child.name)
    return None, None


def _run_details(ml_client, child_id: str):
    # A step's own record (its times, its error) is its run-history details, which
    # the SDK exposes only through its run operations.
    from azure.core.exceptions import AzureError

    try:
        return ml_client.jobs._runs_operations.get_run_details(child_id)
    except (AzureError, AttributeError):  # a courtesy: the status says how it ended
        return None


def _run_error(ml_client, child_id: str) -> str | None:
    details = _run_details(ml_client, child_id)
    error = getattr(getattr(details, "error", None), "error", None)
    return getattr(error, "message", None)


def recorded_seconds(ml_client, child_id: str) -> float | None:
    """Seconds step run ``child_id`` ran, from its start to its end as run history
    records them (its wait for a node is not counted); None when it has no record
    of both. Its ``lastModifiedUtc`` is no end: Azure does not move it with the status."""
    details = _run_details(ml_client, child_id)
    return _between(
        getattr(details, "start_time_utc", None), getattr(details, "end_time_utc", None)
    )


def _between(start: object, end: object) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return round(max(0.0, (end - start).total_seconds()), 3)
    return None


def to_step(ml_client, name: str, child) -> StepRun:
    """The ``StepRun`` of a job's child run (None: it never started)."""
    if child is None:
        return StepRun(name, "NotStarted")
    status = word(child.status, "NotStarted")
    seconds = recorded_seconds(ml_client, child.name) if status in TERMINAL else None
    return StepRun(name, status, seconds or 0.0)


def _job_seconds(job) -> float:
    # From the start to the end the job records once it ended; 0.0 before.
    try:
        stages = json.loads((job.properties or {}).get(STAGES) or "{}")
        execution = stages.get("Execution") or {}
        start, end = (datetime.fromisoformat(execution[key]) for key in ("StartTime", "EndTime"))
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0.0
    return _between(start, end) or 0.0


def to_run(job, steps: tuple[StepRun, ...] = (), error: str | None = None) -> PipelineRun:
    """The ``PipelineRun`` of a job as azure-ai-ml returns it: Azure's status word,
    submitted at its ``createdAt``, its seconds those it recorded (0.0 until it
    ended), its outputs those it declares (and the model of ``MODEL_TAG``, and the
    held-out split it took as an input)."""
    created = getattr(job.creation_context, "created_at", None)
    outputs = {name: f"azureml://jobs/{job.name}/outputs/{name}" for name in job.outputs or {}}
    if model := (job.tags or {}).get(MODEL_TAG):
        outputs[MODEL_OUTPUT] = model
    # A job given its held-out split as an input (finetune_serverless.yml) has it so.
    given = _input_path((job.inputs or {}).get(TEST_DATA_OUTPUT))
    if TEST_DATA_OUTPUT not in outputs and storage.parse_datastore_uri(str(given or "")):
        outputs[TEST_DATA_OUTPUT] = given
    return PipelineRun(
        run_id=job.name,
        status=status_of(job),
        data_asset=(job.tags or {}).get(DATA_TAG, "?"),
        started=created.isoformat(timespec="seconds") if isinstance(created, datetime) else "",
        seconds=_job_seconds(job),
        steps=steps,
        outputs=outputs,
        error=error,
    )


def studio_url(job) -> str | None:
    services = getattr(job, "services", None) or {}
    studio = services.get("Studio")
    return getattr(studio, "endpoint", None)


def download_output(ml_client, credential, uri: str, folder: Path) -> None:
    """Download the job output ``uri`` (``azureml://jobs/<job>/outputs/<output>``, or
    the datastore folder a job took as an input) into the new folder ``folder``.

    ``jobs.download`` first. azure-ai-ml 1.33 to 1.35.2 raise ``TypeError`` there
    for a model-typed output (``BatchGetResolvedUrisDto(values=...)``, against
    Azure too); the output is then read straight from storage: from the path of
    the model asset it was registered as (a fine-tuning job's), else from where
    ``build_job`` placed it in the default datastore."""
    if located := storage.parse_datastore_uri(uri):
        _download_prefix(ml_client, credential, located, folder, uri)
        return
    run_id, output = JOB_OUTPUT.fullmatch(uri).group("job", "output")
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
        located = _written_at(ml_client, run_id, output)
        _download_prefix(ml_client, credential, located, folder, f"output {output!r} of {run_id}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _written_at(ml_client, run_id: str, output: str) -> tuple[str | None, str]:
    """(datastore, path; None: the default) where output ``output`` of job ``run_id``
    is: an output registered as a named model (``registered_model`` of a
    fine-tuning job) is its newest version's files; any other, ``OUTPUT_PATH``."""
    declared = (ml_client.jobs.get(run_id).outputs or {}).get(output)
    name = getattr(declared, "name", None)
    if name and "model" in str(getattr(declared, "type", "")):
        newest = max(ml_client.models.list(name=name), key=lambda m: int(m.version))
        located = storage.parse_datastore_uri(str(newest.path))
        if located is None:
            where = newest.path
            raise storage.StorageError(f"model {name}: its files ({where}) are in no datastore")
        return located
    return None, OUTPUT_PATH.format(run=run_id, output=output)


def _download_prefix(ml_client, credential, located: tuple, folder: Path, shown: str) -> None:
    store, prefix = located
    client = storage.container(ml_client, credential, store)
    if not storage.download_prefix(client, prefix, folder):
        raise storage.StorageError(f"{shown}: no files there")


def _input_path(value: object) -> str | None:
    # A pipeline job's input wraps what was bound (``_data``) once loaded or returned.
    return getattr(getattr(value, "_data", value), "path", None)
