"""Train step: fit a gradient-boosting model and save it in MLflow format.

Reads ``<train_data>/*.parquet`` (written by the prep step: features, the
sensitive column if any, the encoded target) and the column roles
(``--columns``), fits the estimator of the model's kind (kinds.py) on the
features (text columns are categorical features, gaps are missing values;
the sensitive column is never a feature), logs parameters and training
metrics to the active MLflow run and saves the model with
``mlflow.sklearn.save_model`` into ``<model_output>``, with the signature and
``data_contract.json`` that evaluation and scoring read (see contract.py).
By kind:

- binary-classification: HistGradientBoostingClassifier; MLflow's pyfunc
  calls ``predict_proba`` (two columns); metric ``train_auc``;
- multiclass-classification: the same classifier, ``predict_proba`` (a
  column per class); metric ``train_accuracy``;
- regression: HistGradientBoostingRegressor, ``predict`` (one number per
  row); metric ``train_rmse``.

Every kind also logs ``train_rows`` and ``boosting_iterations``. The model is
saved, not logged: Azure ML's tracking server does not implement the
logged-models API that ``log_model`` calls in MLflow 3, so the pipeline
registers the model from this output folder instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The model's format (skops), before MLflow: see model_format.py.
import model_format  # noqa: F401  # isort: skip
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from contract import (
    ColumnRoles,
    Contract,
    describe_features,
    input_schema,
    read_roles,
    save_contract,
)
from kinds import KINDS
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from sklearn.model_selection import train_test_split

from common import SPLIT_FILE, data_file, fail, read_split

# The types beyond skops' defaults that the saved model holds, each by its exact
# name; loading refuses anything else. TreePredictor: the boosting trees (plain
# arrays). With text features the classifier or regressor encodes them itself,
# and keeps its numeric columns' check as functools.partial(check_array, ...):
# skops rebuilds a partial only around functions that are trusted by name as well.
SKOPS_TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
]


# Above this many rows the model stops early on held-out rows (its "auto").
EARLY_STOPPING_ROWS = 10_000


def build_model(contract: Contract, params: dict, seed: int):
    """An unfitted estimator of ``contract``'s kind for its features: text ones categorical."""
    text = [column.name for column in contract.columns if column.kind == "text"]
    return KINDS[contract.kind].estimator(
        categorical_features=text or None, random_state=seed, **params
    )


def train(
    table: pd.DataFrame,
    roles: ColumnRoles,
    params: dict,
    seed: int,
    names: tuple[str, ...] = ("0", "1"),
    gaps: set[str] = frozenset(),
):
    """Fit the model of ``roles.kind`` on ``table`` (the target as the prep step
    encodes it; ``names`` are what the class codes 0, 1, ... stand for, none
    for regression; ``gaps`` the features with a gap anywhere in the data, not
    only in ``table``); returns (model, contract, training metrics). The
    kind's own metric (``train_auc``, ...) is measured on the rows the trees
    were fitted on (not the early-stopping ones)."""
    kind = KINDS[roles.kind]
    labels = table[roles.target_column].to_numpy()
    rows = len(labels)
    contract = describe_features(table, roles, names, gaps)
    frame = contract.model_frame(table)
    del table  # the caller passes it in without keeping it: one copy of the data at a time
    model = build_model(contract, params, seed)
    if rows > EARLY_STOPPING_ROWS:
        # The model would hold out its validation rows from a copy of its
        # whole input; held out here, from row numbers, the frame is copied once.
        fit_rows, val_rows = train_test_split(
            np.arange(len(labels)),
            test_size=0.1,
            stratify=labels if kind.stratified else None,
            random_state=seed,
        )
        x_fit, x_val = frame.iloc[fit_rows], frame.iloc[val_rows]
        del frame
        labels, y_val = labels[fit_rows], labels[val_rows]
        model.fit(x_fit, labels, X_val=x_val, y_val=y_val)
        del x_val
    else:
        x_fit = frame
        model.fit(x_fit, labels)
    metrics = {
        **kind.fit_metrics(model, x_fit, labels),
        "train_rows": float(rows),
        "boosting_iterations": float(model.n_iter_),
    }
    return model, contract, metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-data", required=True, type=Path)
    parser.add_argument("--columns", required=True, type=Path, help="the column roles (JSON)")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--max-leaf-nodes", type=int, default=31)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-output", required=True, type=Path)
    args = parser.parse_args(argv)
    params = {
        "learning_rate": args.learning_rate,
        "max_iter": args.max_iter,
        "max_leaf_nodes": args.max_leaf_nodes,
    }

    try:
        roles = read_roles(args.columns)
        data_file(args.train_data)  # one Parquet file there, or the error that says so
        seen = json.loads((args.train_data / SPLIT_FILE).read_text(encoding="utf-8"))
        names = tuple(seen["labels"][str(code)] for code in range(len(seen["labels"])))
        model, contract, metrics = train(
            read_split(args.train_data),
            roles,
            params,
            args.seed,
            names,
            set(seen["gaps"]),
        )
    except (OSError, KeyError, ValueError) as error:
        return fail(f"{args.train_data}: {error}")

    kind = KINDS[contract.kind]
    output = TensorSpec(np.dtype("float64"), kind.output_shape(contract.labels))
    signature = ModelSignature(inputs=input_schema(contract), outputs=Schema([output]))
    with mlflow.start_run():
        mlflow.log_params({**params, "seed": args.seed, "features": len(contract.columns)})
        mlflow.log_metrics(metrics)
    mlflow.sklearn.save_model(
        model,
        path=str(args.model_output),
        signature=signature,
        pyfunc_predict_fn=kind.predict_fn,
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        # Named explicitly: inferring them reloads the model in a subprocess,
        # which costs more than the training itself on small data.
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
    )
    save_contract(args.model_output, contract)
    name, value = next(iter(metrics.items()))  # the kind's own: train_auc, ...
    print(f"{name}={value:.4f} iterations={metrics['boosting_iterations']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
