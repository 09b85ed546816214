"""MLflow tracking for local pipeline runs, in a SQLite store under the state folder.

A pipeline run is a parent MLflow run; each step is a child run whose id the
step's process receives as ``MLFLOW_RUN_ID``, so ``mlflow.start_run()`` in
the step code logs into it, as it does on Azure ML. Browse the store with
``mlflow ui --backend-store-uri sqlite:///.mlops/mlflow.db``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

DB_FILE = "mlflow.db"
ARTIFACTS = "mlartifacts"


def tracking_uri(state_dir: Path) -> str:
    return f"sqlite:///{(state_dir / DB_FILE).absolute()}"


class LocalTracking:
    def __init__(self, state_dir: Path, experiment_name: str) -> None:
        # Creating or migrating the SQLite schema is logged at INFO on stderr,
        # where the CLI keeps one line for errors.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri(state_dir)
        self.client = MlflowClient(tracking_uri=self.uri)
        experiment = self.client.get_experiment_by_name(experiment_name)
        self.experiment_id = (
            experiment.experiment_id
            if experiment
            else self.client.create_experiment(
                experiment_name, artifact_location=(state_dir / ARTIFACTS).absolute().as_uri()
            )
        )

    def start(self, name: str, tags: Mapping[str, str], parent: str | None = None) -> str:
        """Open a run (a child of ``parent`` if given) and return its id."""
        if parent:
            tags = {**tags, "mlflow.parentRunId": parent}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags))
        return run.info.run_id

    def finish(self, run_id: str, ok: bool, metrics: Mapping[str, float] | None = None) -> None:
        for key, value in (metrics or {}).items():
            self.client.log_metric(run_id, key, value)
        status = RunStatus.FINISHED if ok else RunStatus.FAILED
        self.client.set_terminated(run_id, RunStatus.to_string(status))

    def step_env(self, run_id: str) -> dict[str, str]:
        """Environment variables that point a step's MLflow calls at ``run_id``."""
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_EXPERIMENT_ID": self.experiment_id,
            "MLFLOW_RUN_ID": run_id,
        }
