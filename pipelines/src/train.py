"""Train step: fit a gradient-boosting classifier and save it in MLflow format.

Reads ``<train_data>/*.parquet`` (features, sensitive column, 0/1 target),
fits scikit-learn's HistGradientBoostingClassifier (string columns are
ordinal-encoded and treated as categorical; the sensitive column is never a
feature), logs parameters and training metrics to the active MLflow run and
saves the model with ``mlflow.sklearn.save_model`` into ``<model_output>``.
The model is saved, not logged: Azure ML's tracking server does not implement
the logged-models API that ``log_model`` calls in MLflow 3, so the pipeline
registers the model from this output folder instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from common import data_file, fail

# skops refuses to load types it cannot audit; the boosting trees are plain
# arrays written by this step, so they are trusted explicitly and by name.
SKOPS_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def build_model(features: pd.DataFrame, params: dict, seed: int) -> Pipeline:
    """Return an unfitted pipeline for ``features``: categorical encoding + boosting."""
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                categorical,
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    # ColumnTransformer puts the encoded columns first.
    is_categorical = [True] * len(categorical) + [False] * (features.shape[1] - len(categorical))
    boost = HistGradientBoostingClassifier(
        categorical_features=is_categorical, random_state=seed, **params
    )
    return Pipeline([("encode", encode), ("boost", boost)])


def train(table: pd.DataFrame, target: str, sensitive: str, params: dict, seed: int):
    """Fit the model on ``table``; returns (model, features, training metrics)."""
    features = table.drop(columns=[target, sensitive])
    labels = table[target]
    model = build_model(features, params, seed).fit(features, labels)
    scores = model.predict_proba(features)[:, 1]
    metrics = {
        "train_auc": float(roc_auc_score(labels, scores)),
        "train_rows": float(len(table)),
        "boosting_iterations": float(model.named_steps["boost"].n_iter_),
    }
    return model, features, metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-data", required=True, type=Path)
    parser.add_argument("--target-column", required=True)
    parser.add_argument("--sensitive-column", required=True)
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
        table = pd.read_parquet(data_file(args.train_data))
        model, features, metrics = train(
            table, args.target_column, args.sensitive_column, params, args.seed
        )
    except (OSError, KeyError, ValueError) as error:
        return fail(f"{args.train_data}: {error}")

    example = features.head(5)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; that is
        # the point here: the schema records the types the model was trained on
        # (a column with gaps was read as float and is recorded as double).
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(example, model.predict_proba(example))
    with mlflow.start_run():
        mlflow.log_params({**params, "seed": args.seed, "features": ",".join(features.columns)})
        mlflow.log_metrics(metrics)
    mlflow.sklearn.save_model(
        model,
        path=str(args.model_output),
        signature=signature,
        input_example=example,
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        # Named explicitly: inferring them reloads the model in a subprocess,
        # which costs more than the training itself on small data.
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
    )
    print(f"train_auc={metrics['train_auc']:.4f} iterations={metrics['boosting_iterations']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
