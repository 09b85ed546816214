"""A model version's training data as monitoring needs it, wherever it is.

In the environment that trained a version, its training run's outputs hold
its training split (``train_data``, as prep cut it), its test split and its
answers on that split; a version promoted into another environment has no
run there, and its baseline is the copy the promotion carried to the
registry (``baseline.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops.errors import UserError
from mlops.monitoring.baseline import FEATURES_FILE, Baseline, bounded
from mlops.monitoring.judge import PREDICTION
from mlops.runs import ANSWERS_FILE, METRICS_OUTPUT, TRAIN_DATA_OUTPUT
from mlops.settings import Settings
from mlops.targets.base import ADOPTED_TAG, REGISTRY_PREFIX
from mlops.task import task_from_tags


def baseline_of(target, settings: Settings, model) -> Baseline:
    """The baseline of ``model`` (a version of this environment): from its training
    run, or, for a version taken in from the registry, the copy promoted with it.
    ``UserError`` saying what to do when neither is there."""
    promoted = model.tags.get(ADOPTED_TAG, "")
    if promoted:
        number = promoted.removeprefix(REGISTRY_PREFIX).rpartition(":")[2]
        folder = target.registry_promoted_with(number)
        if folder is None or not (folder / FEATURES_FILE).is_file():
            raise UserError(
                f"model {model.ref} is registry version {promoted.removeprefix(REGISTRY_PREFIX)}, "
                "promoted without a baseline: monitor it where it was trained, or promote a "
                "newer version (a promotion carries the baseline)"
            )
        return Baseline.read(folder)
    run = training_run(target, model)
    features = bounded(training_split(target, settings, model, run))
    answers = answers_on_test(target, run)
    return Baseline(features, bounded(answers) if answers is not None else None)


def training_run(target, model):
    """The pipeline run that trained ``model``; UserError when it is unknown here."""
    if not model.run_id:
        raise UserError(f"model {model.ref} has no mlops.run_id tag: its training data is unknown")
    try:
        return target.get_run(model.run_id)
    except UserError:
        raise UserError(
            f"model {model.ref} was trained by run {model.run_id}, which this environment does "
            "not hold: monitor it where it was trained"
        ) from None


def training_split(
    target, settings: Settings, model, run, output: str = TRAIN_DATA_OUTPUT
) -> pd.DataFrame:
    """The features of ``model``'s training split (or of the split ``output``, such
    as ``test_data``), as its training ``run``'s prep cut them."""
    try:
        files = sorted(Path(target.output_path(run, output)).glob("*.parquet"))
    except UserError:  # a run of a pipeline that did not publish it
        files = []
    if not files:
        raise UserError(
            f"run {run.run_id} published no {output} split: retrain the model with a "
            "pipeline that publishes it (pipelines/train.yml does)"
        )
    table_ = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    task = task_from_tags(model.tags)
    if task is not None and task.features is not None:
        features = [name for name in task.features if name in table_.columns]
    else:
        roles = {settings.data.target_column, settings.data.sensitive_column}
        features = [name for name in table_.columns if name not in roles]
    return table_[features]


def answers_on_test(target, run) -> pd.Series | None:
    """The model's answers on its test split (the evaluate step's), None when the
    run has none (a model trained before evaluate wrote them)."""
    try:
        path = Path(target.output_path(run, METRICS_OUTPUT)) / ANSWERS_FILE
    except UserError:
        return None
    if not path.is_file():
        return None
    return pd.read_parquet(path, columns=[PREDICTION])[PREDICTION]
