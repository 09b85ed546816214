"""Evaluate step: score the test split with the trained model.

Reads the test split and the model, with its contract (contract.py: which
columns are features, the target and the sensitive column). Writes
``<metrics_output>/metrics.json``, a flat object of floats (ROC AUC,
accuracy, precision, recall, F1, log loss at a 0.5 threshold, plus, when the
roles name a sensitive column, the demographic parity difference and
equalized odds difference across its groups, from fairlearn; lower is
fairer), and logs
the same metrics to the active MLflow run. The names it writes, their order
and the way each improves are listed in ``metric_catalog.json`` beside this
script, the one list the gate's rules are checked against; the step fails if
what it computed and the catalogue disagree. Beside ``metrics.json``,
``curves.json`` holds what the gate report draws: the ROC curve (at most 201
points) and, per group of the sensitive column, its size, selection rate, TPR
and FPR (no groups without one). ``feature_signal.json`` holds each feature's
own AUC on the test split, best first (the ten best): when a model is too
good to be true, the gate names the feature that explains it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from contract import CONTRACT_FILE, load_contract
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn import metrics as skm

from common import fail, output_file, read_split

CATALOG = Path(__file__).with_name("metric_catalog.json")
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.json"
SIGNAL_FILE = "feature_signal.json"
THRESHOLD = 0.5
ROC_POINTS = 201
SIGNAL_FEATURES = 10
# Rows the signal is measured on at most (every n-th row): an AUC of 0.99 shows on fewer.
SIGNAL_ROWS = 200_000


def evaluate(labels: pd.Series, scores, groups: pd.Series | None) -> dict[str, float]:
    """The evaluation metrics of probability ``scores`` against 0/1 ``labels``;
    the fairness metrics only when there are ``groups``."""
    predicted = (scores >= THRESHOLD).astype(int)
    metrics = {
        "auc": float(skm.roc_auc_score(labels, scores)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(labels, scores, labels=[0, 1])),
        "test_rows": float(len(labels)),
    }
    if groups is not None:
        metrics["demographic_parity_difference"] = float(
            demographic_parity_difference(labels, predicted, sensitive_features=groups)
        )
        metrics["equalized_odds_difference"] = float(
            equalized_odds_difference(labels, predicted, sensitive_features=groups)
        )
    return metrics


def in_catalog_order(
    metrics: dict[str, float], catalog: Path = CATALOG, *, groups: bool = True
) -> dict[str, float]:
    """``metrics`` in the catalogue's order; raises ValueError naming the metrics
    computed but not listed, or listed but not computed. Without ``groups`` (no
    sensitive column) the metrics the catalogue marks ``"needs": "groups"`` are
    not expected."""
    entries = json.loads(catalog.read_text())
    names = [name for name, entry in entries.items() if groups or entry.get("needs") != "groups"]
    extra, missing = sorted(set(metrics) - set(names)), sorted(set(names) - set(metrics))
    if extra or missing:
        raise ValueError(
            f"{catalog.name} and evaluate.py disagree: computed but not listed: "
            f"{', '.join(extra) or 'none'}; listed but not computed: {', '.join(missing) or 'none'}"
        )
    return {name: metrics[name] for name in names}


def curves(labels: pd.Series, scores, groups: pd.Series | None) -> dict:
    """The ROC curve and the per-group rates at the 0.5 threshold (none without
    ``groups``), as plain JSON."""
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    if len(fpr) > ROC_POINTS:  # keep the shape, not every threshold
        keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    roc = {"fpr": fpr.round(5).tolist(), "tpr": tpr.round(5).tolist()}
    if groups is None:
        return {"roc": roc, "groups": {}}
    predicted = (scores >= THRESHOLD).astype(int)
    by_group = MetricFrame(
        metrics={
            "count": lambda y, p: len(y),
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=labels,
        y_pred=predicted,
        sensitive_features=groups,
    ).by_group
    return {
        "roc": roc,
        "groups": {
            str(group): {name: float(value) for name, value in row.items()}
            for group, row in by_group.iterrows()
        },
    }


def feature_signal(frame: pd.DataFrame, labels: pd.Series) -> dict[str, float]:
    """Each feature's own AUC against 0/1 ``labels``, read either way (0.2 is as
    telling as 0.8, so ``max(auc, 1 - auc)``), best first, the ``SIGNAL_FEATURES``
    best. A number ranks rows by itself (a gap below every number); a text
    column by its categories' rate of positives, each half of the rows scored
    with the rates of the other half, so a column of unique values (an id)
    does not score itself perfectly."""
    step = max(1, len(frame) // SIGNAL_ROWS)
    frame, y = frame.iloc[::step], np.asarray(labels)[::step]
    if len(np.unique(y)) < 2:
        return {}
    half = np.arange(len(frame)) % 2 == 0
    signal = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == object:
            score = np.empty(len(values))
            for scored, fitted in ((half, ~half), (~half, half)):
                rates = pd.Series(y[fitted]).groupby(values[fitted].fillna("").to_numpy()).mean()
                seen = values[scored].fillna("").map(rates)
                score[scored] = seen.fillna(y[fitted].mean()).to_numpy(dtype="float64")
        else:
            numbers = values.to_numpy(dtype="float64")
            present = numbers[~np.isnan(numbers)]
            floor = present.min() - 1 if len(present) else 0.0
            score = np.where(np.isnan(numbers), floor, numbers)
        auc = float(skm.roc_auc_score(y, score))
        signal[str(name)] = round(max(auc, 1 - auc), 6)
    best = sorted(signal.items(), key=lambda item: -item[1])[:SIGNAL_FEATURES]
    return dict(best)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--test-data", required=True, type=Path)
    parser.add_argument("--metrics-output", required=True, type=Path)
    args = parser.parse_args(argv)

    try:
        contract = load_contract(args.model)
        model = mlflow.sklearn.load_model(str(args.model))
    except (OSError, ValueError) as error:
        return fail(f"{args.model}: {error}")
    roles = contract.roles
    if roles is None:
        return fail(f"{args.model}: no {CONTRACT_FILE} beside the model; train it again")
    try:
        table = read_split(args.test_data)
        frame = contract.model_frame(table)
        scores = model.predict_proba(frame)[:, 1]
        labels = table[roles.target_column]
        groups = table[roles.sensitive_column] if roles.sensitive_column else None
        results = in_catalog_order(evaluate(labels, scores, groups), groups=groups is not None)
        drawn = curves(labels, scores, groups)
        signal = feature_signal(frame, labels)
    except (OSError, KeyError, ValueError) as error:
        return fail(f"{args.test_data}: {error}")

    output_file(args.metrics_output, METRICS_FILE).write_text(json.dumps(results, indent=2))
    output_file(args.metrics_output, CURVES_FILE).write_text(json.dumps(drawn))
    output_file(args.metrics_output, SIGNAL_FILE).write_text(
        json.dumps({"auc": signal}, indent=2, ensure_ascii=False)
    )
    with mlflow.start_run():
        mlflow.log_metrics(results)
    if groups is None:
        print("no sensitive column: fairness not measured")
    counted = {
        name for name, entry in json.loads(CATALOG.read_text()).items() if not entry["better"]
    }
    print(
        " ".join(
            f"{name}={value:.0f}" if name in counted else f"{name}={value:.4f}"
            for name, value in results.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
