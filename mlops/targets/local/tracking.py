"""MLflow tracking for local pipeline runs, in a SQLite store under the state folder.

A pipeline run is a parent MLflow run with a child run per step, as on
Azure ML. MLflow takes more than a second to import and open its store, so
none of that is on the run's critical path:

- each step creates its own child run: its process gets
  ``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_ID`` and, in
  ``MLFLOW_RUN_CONTEXT``, the tags that tie the run to its pipeline run
  (``mlops.run_id``, ``mlops.step``, its name), so ``mlflow.start_run()`` in
  the step code logs into it;
- this process imports MLflow in a background thread while the first step
  runs and opens the parent run there;
- ``finish`` links the steps' runs to the parent, creates one for a step
  that never opened one (or died before), and closes every run left
  RUNNING with the step's outcome, so no run stays RUNNING for ever.

The experiment's id is read from the store with the standard library's
SQLite module; only a store without the experiment (the first run) makes
the step wait for MLflow to create it.

Browse the store with ``mlflow ui --backend-store-uri sqlite:///.mlops/mlflow.db``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlops.targets.base import StepRun
from mlops.targets.local.blank_store import quiet_store_logs, seed

DB_FILE = "mlflow.db"
ARTIFACTS = "mlartifacts"
RUN_TAG = "mlops.run_id"
STEP_TAG = "mlops.step"
# On a reused step's run: the pipeline run whose outputs it reused.
REUSED_TAG = "mlops.reused_from"
# How a step's outcome closes its MLflow run.
STATUS = {"Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}
# What a step's first `mlflow.start_run()` imports to open this store (a second):
# a warm start imports it beforehand for the steps that use MLflow.
STEP_IMPORTS = ("mlflow.store.tracking.sqlalchemy_store",)


def tracking_uri(state_dir: Path) -> str:
    """The URI of the MLflow store in ``state_dir``, which exists once this returns
    when the state folder does (see ``blank_store``)."""
    return store_uri(state_dir / DB_FILE, state_dir / ARTIFACTS)


def store_uri(db: Path, artifacts: Path) -> str:
    """The URI of the MLflow SQLite store ``db``; a missing one starts as a copy of
    an empty store whose default experiment keeps its artifacts in ``artifacts``."""
    if db.parent.is_dir():
        seed(db, artifacts)
    return f"sqlite:///{db.absolute()}"


def experiment_id(db: Path, name: str) -> str | None:
    """The id of the active experiment ``name`` in MLflow's SQLite store ``db``,
    read without MLflow; None when the store or the experiment does not exist."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"{db.absolute().as_uri()}?mode=ro", uri=True, timeout=5) as store:
            row = store.execute(
                "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = ?",
                (name, "active"),
            ).fetchone()
    except sqlite3.Error:
        return None  # not a store this schema reads: let MLflow say what is wrong
    return None if row is None else str(row[0])


def ensure_experiment(state_dir: Path, name: str) -> None:
    """Create the store and experiment ``name`` unless they exist (cheap when they do)."""
    if experiment_id(state_dir / DB_FILE, name) is None:
        state_dir.mkdir(parents=True, exist_ok=True)
        create_experiment(_client(tracking_uri(state_dir)), state_dir, name)


def create_experiment(client, state_dir: Path, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    return client.create_experiment(
        name, artifact_location=(state_dir / ARTIFACTS).absolute().as_uri()
    )


def log_report(
    state_dir: Path,
    experiment_name: str,
    run_name: str,
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    folder: Path,
) -> str:
    """Record a report (``mlops monitor``'s) as a finished MLflow run of its own in
    experiment ``experiment_name``: ``metrics``, ``tags`` and the files of
    ``folder`` as its artifacts; return the run's id."""
    from mlflow.entities import Metric, RunTag

    state_dir.mkdir(parents=True, exist_ok=True)
    client = _client(tracking_uri(state_dir))
    experiment = create_experiment(client, state_dir, experiment_name)
    run = client.create_run(experiment, run_name=run_name)
    now = int(time.time() * 1000)
    try:
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
        client.log_artifacts(run.info.run_id, str(folder))
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")  # never left RUNNING
        raise
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    quiet_store_logs()
    return MlflowClient(tracking_uri=uri)


class RunTracking:
    """The MLflow records of one pipeline run (see the module docstring)."""

    def __init__(
        self, state_dir: Path, experiment_name: str, run_id: str, tags: Mapping[str, str]
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri(state_dir)
        self.run_id = run_id
        self.tags = {**tags, RUN_TAG: run_id}
        self.started_ms = int(time.time() * 1000)
        self._client = None
        self._parent: str | None = None
        self._failure: BaseException | None = None
        self.experiment_id = experiment_id(state_dir / DB_FILE, experiment_name)
        if self.experiment_id is None:  # the first run on this store: create it now
            self._client = _client(self.uri)
            self.experiment_id = create_experiment(self._client, state_dir, experiment_name)
        self._opening = threading.Thread(target=self._open, name="mlflow", daemon=True)
        self._opening.start()

    def _open(self) -> None:
        try:
            self._client = self._client or _client(self.uri)
            run = self._client.create_run(
                self.experiment_id,
                start_time=self.started_ms,
                tags=self.tags,
                run_name=self.run_id,
            )
            self._parent = run.info.run_id
        except BaseException as error:  # raised again by `finish`, in the caller's thread
            self._failure = error

    def step_env(self, step: str) -> dict[str, str]:
        """Environment variables that make ``mlflow.start_run()`` in ``step``'s
        process open that step's child run."""
        context = {**self.tags, STEP_TAG: step, "mlflow.runName": step}
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_EXPERIMENT_ID": str(self.experiment_id),
            "MLFLOW_RUN_CONTEXT": json.dumps(context),
        }

    def finish(
        self, status: str, steps: Sequence[StepRun], metrics: Mapping[str, float] | None = None
    ) -> str:
        """Close the run as ``status`` (a step status: Completed, Failed or Canceled)
        with ``metrics``, its steps' runs linked and closed; return the parent's id."""
        self._opening.join()
        if self._failure is not None:
            raise self._failure
        client, parent = self._client, self._parent
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        children = {
            run.data.tags.get(STEP_TAG): run
            for run in client.search_runs(
                [self.experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{self.run_id}'"
            )
            if run.info.run_id != parent
        }
        for step in steps:
            if step.status == "NotStarted":
                continue
            run = children.get(step.name)
            if run is None:  # the step logged nothing (or was reused): its run is made for it
                tags = {**self.tags, STEP_TAG: step.name}
                if step.reused_from:
                    tags[REUSED_TAG] = step.reused_from
                run = client.create_run(
                    self.experiment_id,
                    start_time=now - int(step.seconds * 1000),
                    tags=tags,
                    run_name=step.name,
                )
                if step.reused_from:
                    self._copy_records(step.name, step.reused_from, run.info.run_id, now)
            client.set_tag(run.info.run_id, "mlflow.parentRunId", parent)
            # The step's outcome is the truth: a step killed mid-run left its run
            # RUNNING, one that failed after logging may have closed it FINISHED.
            outcome = STATUS.get(step.status, "FAILED")
            if run.info.status != outcome or run.info.end_time is None:
                client.set_terminated(run.info.run_id, outcome)
        if metrics:
            client.log_batch(
                parent, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
            )
        client.set_terminated(parent, STATUS.get(status, "FAILED"))
        return parent

    def _copy_records(self, step: str, source_run: str, into: str, now: int) -> None:
        """Give a reused step's MLflow run the parameters and metrics that the step's
        run in pipeline run ``source_run`` logged: they describe the same outputs."""
        from mlflow.entities import Metric, Param

        found = self._client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{RUN_TAG}` = '{source_run}' and tags.`{STEP_TAG}` = '{step}'",
            max_results=1,
        )
        if not found:
            return
        data = found[0].data
        self._client.log_batch(
            into,
            metrics=[Metric(key, value, now, 0) for key, value in data.metrics.items()],
            params=[Param(key, value) for key, value in data.params.items()],
        )
