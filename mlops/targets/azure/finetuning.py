"""Azure ML's serverless fine-tuning (``finetune.backend: serverless``).

A run has the pipeline backend's three steps, on other grounds:

1. prep, on this machine: the registered examples checked, deduplicated and
   split with the seed by the prep step's own code (``pipelines/src/text_prep.py``),
   the training share split once more for the validation file the fine-tuning
   job takes (azure-ai-ml 1.35's ``create_finetuning_job`` fails without one);
2. finetune: a fine-tuning job (``create_finetuning_job``, task
   ``ChatCompletion``) on the catalog model ``finetune.base_model``, Azure's
   capacity and hyperparameters (``HYPERPARAMETERS``); the service registers the
   fine-tuned model as its output ``registered_model``;
3. evaluate: ``PIPELINE_FILE``, the evaluate step of the pipeline backend on
   that model and the held-out examples, as a pipeline job named by the run.

That pipeline job is the run the gate judges, ``mlops runs`` lists and ``mlops
show`` reads: its tag ``jobs.MODEL_TAG`` names the fine-tuning job's output,
which ``register`` then registers as a version of ``model.name``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.data_plane import module
from mlops.pipeline_graph import PipelineGraph
from mlops.runs import DATA_INPUT
from mlops.targets.azure import data, jobs, models
from mlops.targets.azure.words import word
from mlops.targets.base import DataAsset, ModelNotFound, PipelineRun, Printer, StepRun

if TYPE_CHECKING:
    from mlops.settings import FinetuneSettings

PIPELINE_FILE = Path("pipelines/finetune_serverless.yml")
OUTPUT = "registered_model"  # the fine-tuning job's output: the model it registered
TASK = "ChatCompletion"  # azure.ai.ml.finetuning.FineTuningTaskType.CHAT_COMPLETION
# finetune: keys -> the names Azure's serverless fine-tuning takes them by.
HYPERPARAMETERS = {
    "epochs": "num_train_epochs",
    "learning_rate": "learning_rate",
    "batch_size": "per_device_train_batch_size",
}
STEPS = ("prep", "finetune", "evaluate")
TRAIN_FILE, VALIDATION_FILE = "train.jsonl", "validation.jsonl"


def job_name(run_id: str) -> str:
    """The fine-tuning job of run ``run_id``."""
    return f"{run_id}-finetune"


def hyperparameters(finetune: FinetuneSettings) -> dict[str, str]:
    """The job's hyperparameters from ``finetune:``, as strings (the REST API's type)."""
    return {name: str(getattr(finetune, key)) for key, name in HYPERPARAMETERS.items()}


def split_examples(raw: Path, folder: Path, test_size: float, seed: int) -> dict[str, Path]:
    """Split the JSONL examples ``raw`` as the prep step does, into ``folder``:
    ``train.jsonl`` and ``validation.jsonl`` (the fine-tuning job's, the training
    share split again with ``test_size`` and ``seed``) and the folder ``test``
    (the prep step's ``test_data``: ``examples.jsonl``, what the evaluate step
    reads). Raises ``ValueError`` (or the parser's ``ExampleError``) naming the
    line at fault."""
    prep = module("text_prep")
    chat_data = module("chat_data")
    distinct = prep.deduplicate(chat_data.read_examples(prep.jsonl_file(raw)))
    train, test = prep.split(distinct, test_size, seed)
    train, validation = prep.split(train, test_size, seed)
    files = {
        "train": folder / TRAIN_FILE,
        "validation": folder / VALIDATION_FILE,
        "test": folder / "test",
    }
    chat_data.write_examples(files["train"], train)
    chat_data.write_examples(files["validation"], validation)
    chat_data.write_examples(prep.output_file(files["test"], prep.EXAMPLES_FILE), test)
    return files


def build_job(
    run_id: str,
    finetune: FinetuneSettings,
    files: Mapping[str, Path],
    *,
    model_name: str,
    experiment: str,
    tags: Mapping[str, str],
):
    """The fine-tuning job of run ``run_id``, as ``create_finetuning_job`` builds it:
    the catalog model, the local training and validation files (the SDK uploads
    them), the hyperparameters, the output model named ``<model_name>-<run_id>``."""
    from azure.ai.ml.finetuning import create_finetuning_job

    return create_finetuning_job(
        model=finetune.base_model,
        task=TASK,
        training_data=str(files["train"]),
        validation_data=str(files["validation"]),
        hyperparameters=hyperparameters(finetune),
        output_model_name_prefix=f"{model_name}-{run_id}",
        name=job_name(run_id),
        display_name=f"{model_name} fine-tuning ({run_id})",
        experiment_name=experiment,
        tags=dict(tags),
    )


def run_serverless(
    target,
    asset: DataAsset,
    inputs: Mapping[str, object],
    show: Printer,
    run_id: str,
    commit: str,
) -> PipelineRun:
    """Run ``run_id`` with serverless fine-tuning (see the module docstring) on
    ``asset`` through ``target`` (an AzureTarget: its signed-in client and cache),
    the pipeline ``inputs`` as the pipeline backend gets them; the finished run,
    or the failed one naming the step."""
    settings, finetune = target.settings, target.settings.finetune
    graph = target.serverless_graph()
    total = len(STEPS)
    clock = time.perf_counter()
    show(f"run {run_id} on data {asset.ref}")
    scratch = target.cache / "runs" / run_id / "prep"
    shutil.rmtree(scratch, ignore_errors=True)
    show(f"[1/{total}] prep: Prepare fine-tuning examples (on this machine)")
    (scratch / "raw").mkdir(parents=True)
    with target._calls() as client:
        raw = data.local_copy(client, target._credential, asset.path, scratch / "raw", asset.ref)
    try:
        files = split_examples(raw, scratch, float(inputs["test_size"]), int(inputs["seed"]))
    except ValueError as problem:  # the parser's ExampleError is one
        failed = (StepRun("prep", "Failed"), *(StepRun(s, "NotStarted") for s in STEPS[1:]))
        return _ended_early(run_id, asset, clock, failed, f"step 'prep' failed: {problem}")
    prep = StepRun("prep", "Completed", round(time.perf_counter() - clock, 3))
    show(f"[1/{total}] prep completed in {prep.seconds:.1f} s")
    tags = {jobs.DATA_TAG: asset.ref, jobs.COMMIT_TAG: commit}
    name = job_name(run_id)
    with target._calls() as client:
        job = build_job(
            run_id,
            finetune,
            files,
            model_name=settings.model.name,
            experiment=settings.pipeline.experiment_name,
            tags=tags,
        )
        started = time.perf_counter()
        submitted = client.jobs.create_or_update(job)
        show(f"[2/{total}] finetune: serverless fine-tuning of {finetune.base_model}")
        if link := jobs.studio_url(submitted):
            show(f"studio: {link}")
        try:
            finished = _wait(client, name, settings.azure.poll_seconds)
        except KeyboardInterrupt:
            jobs.cancel(client, name, show)
            raise
        status = jobs.status_of(finished)
        tuned = StepRun("finetune", status, round(time.perf_counter() - started, 3))
        mark = {"Completed": "completed", "Canceled": "canceled"}.get(status, "failed")
        show(f"[2/{total}] finetune {mark} in {tuned.seconds:.1f} s")
        if status != "Completed":
            link = jobs.studio_url(finished)
            error = f"step 'finetune': fine-tuning job {name} ended {status}"
            error += f" (see {link})" if link else ""
            ended = (prep, tuned, StepRun("evaluate", "NotStarted"))
            return _ended_early(run_id, asset, clock, ended, error)
        model = registered_model(client, name)
        evaluated = {key: value for key, value in inputs.items() if key in graph.inputs}
        evaluated.update(model=f"azureml:{model.name}:{model.version}", test_data=files["test"])
        evaluate = jobs.build_job(
            graph.path,
            run_id,
            asset,
            {key: value for key, value in evaluated.items() if key != DATA_INPUT},
            compute=target.coordinates.compute,
            experiment=settings.pipeline.experiment_name,
            datastore=target._default_datastore(),
            tags={**tags, jobs.MODEL_TAG: f"azureml://jobs/{name}/outputs/{OUTPUT}"},
            timeout_seconds=settings.azure.job_timeout_minutes * 60,
        )
        client.jobs.create_or_update(evaluate)
        try:
            ended, steps = jobs.watch(
                client, run_id, graph, show, settings.azure.poll_seconds, numbering=(3, total)
            )
        except KeyboardInterrupt:
            jobs.cancel(client, run_id, show)
            raise
        return target.finished_run(client, ended, (prep, tuned, *steps), clock)


def _ended_early(
    run_id: str, asset: DataAsset, clock: float, steps: tuple[StepRun, ...], error: str
) -> PipelineRun:
    # A run that ended before its evaluate job was sent: no job records it.
    status = next(s.status for s in steps if s.status not in {"Completed", "NotStarted"})
    seconds = round(time.perf_counter() - clock, 3)
    return PipelineRun(run_id, status, asset.ref, "", seconds, steps, error=error)


def _wait(ml_client, name: str, poll_seconds: float):
    while True:
        job = ml_client.jobs.get(name)
        if jobs.status_of(job) in jobs.TERMINAL:
            return job
        time.sleep(poll_seconds)


def registered_model(ml_client, name: str):
    """The model fine-tuning job ``name`` registered (its output ``registered_model``,
    the newest version of the name it was given)."""
    declared = ml_client.jobs.get(name).outputs[OUTPUT]
    versions = models.list_versions(ml_client, declared.name)
    if not versions:
        raise ModelNotFound(
            f"fine-tuning job {name} completed but registered no model {declared.name}"
        )
    return versions[0]


def steps(ml_client, job, graph: PipelineGraph) -> tuple[StepRun, ...]:
    """The steps of the serverless run whose evaluate pipeline job is ``job``: prep
    (done here before anything was sent), the fine-tuning job, the evaluate step."""
    match = jobs.JOB_OUTPUT.fullmatch(job.tags[jobs.MODEL_TAG])
    tuned = ml_client.jobs.get(match["job"]) if match else None
    status = word(tuned.status, "NotStarted") if tuned is not None else "NotStarted"
    children = jobs.step_children(ml_client, job.name, graph)
    evaluate = tuple(jobs.to_step(ml_client, s.name, children.get(s.name)) for s in graph.steps)
    return (StepRun("prep", "Completed"), StepRun("finetune", status), *evaluate)
