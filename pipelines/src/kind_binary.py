"""``binary-classification``: a target of two values, one of them the positive class.

Prep maps the target to 0/1 (1 for ``positive_class``); the model is a
gradient-boosting classifier whose output is both classes' probabilities;
evaluation and scoring read the positive class's column and label a row
positive at 0.5. Measured by ROC AUC, accuracy, precision, recall, F1 and log
loss, and with a sensitive column by the demographic parity and equalized
odds differences (fairlearn). Each feature's signal is its own AUC.

Only numpy and pandas are imported with this module (kinds.py imports it in
every step): scikit-learn, which would double the prep step's start-up time,
and fairlearn, which the scoring environment lacks, are imported where used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from contract import ColumnRoles, Contract, encode_target

THRESHOLD = 0.5
ROC_POINTS = 201
SIGNAL_FEATURES = 10
# Rows the signal is measured on at most (every n-th row): an AUC of 0.99 shows on fewer.
SIGNAL_ROWS = 200_000


# -- prep ----------------------------------------------------------------------


def encode(values: pd.Series, roles: ColumnRoles) -> tuple[np.ndarray, tuple[str, str]]:
    """0/1 codes (int8) of a two-valued target, 1 where it reads ``positive_class``;
    and the labels of class 0 and class 1. Raises ValueError saying what is wrong."""
    codes, labels = encode_target(values, roles.positive_class)
    return codes.to_numpy(), labels


def describe_target(codes: np.ndarray, labels: tuple[str, ...]) -> dict:
    """The prep summary's line on the target: the share of the positive class."""
    return {"positive_rate": float(codes.mean())}


# -- train ---------------------------------------------------------------------


def estimator(**options):
    """An unfitted gradient-boosting classifier (two classes or more)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**options)


def fit_metrics(model, frame: pd.DataFrame, labels: np.ndarray) -> dict[str, float]:
    """``train_auc`` on the rows the trees were fitted on."""
    from sklearn.metrics import roc_auc_score

    scores = model.predict_proba(frame)[:, 1]
    return {"train_auc": float(roc_auc_score(labels, scores))}


def output_shape(labels: tuple[str, ...]) -> tuple[int, ...]:
    """The signature's output: each row's probability of class 0 and class 1."""
    return (-1, 2)


# -- evaluate and score --------------------------------------------------------


def positive_probabilities(output, rows: int) -> np.ndarray:
    """The positive-class column of the model's ``predict_proba`` output.
    Anything else is a server-side fault (raised as ValueError, logged, HTTP 500)."""
    array = np.asarray(output, dtype=float)
    if array.ndim != 2 or array.shape != (rows, 2):
        raise ValueError(
            f"model output has shape {array.shape}; expected ({rows}, 2) probabilities"
        )
    return array[:, 1]


def predict(model, frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """Each row's probability of the positive class."""
    return positive_probabilities(model.predict_proba(frame), len(frame))


def importance_score(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (scikit-learn's ``roc_auc`` scorer's), from the ranks of the scores:
    the share of (positive, negative) pairs the scores order right, a tie counting
    half. Without the library's checks: it scores every shuffled copy of the
    permutation importance."""
    from scipy.stats import rankdata

    positive = np.asarray(labels) == 1
    count = int(positive.sum())
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - count * (count + 1) / 2) / (count * (len(ranks) - count)))


def raw_output(model, frame: pd.DataFrame) -> np.ndarray:
    """The log-odds the probabilities come from: one per row for two classes, a
    column per class for more."""
    return model.decision_function(frame)


def answer(scores: np.ndarray, contract: Contract) -> dict:
    """The scoring answer: each row's label at 0.5 (0 or 1) and its probability."""
    return {
        "predictions": [int(p >= THRESHOLD) for p in scores],
        "probabilities": [float(p) for p in scores],
    }


def metrics(labels: pd.Series, scores, groups: pd.Series | None) -> dict[str, float]:
    """The evaluation metrics of probability ``scores`` against 0/1 ``labels``;
    the fairness metrics only when there are ``groups``."""
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
    from sklearn import metrics as skm

    predicted = (scores >= THRESHOLD).astype(int)
    measured = {
        "auc": float(skm.roc_auc_score(labels, scores)),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(labels, scores, labels=[0, 1])),
        "test_rows": float(len(labels)),
    }
    if groups is not None:
        measured["demographic_parity_difference"] = float(
            demographic_parity_difference(labels, predicted, sensitive_features=groups)
        )
        measured["equalized_odds_difference"] = float(
            equalized_odds_difference(labels, predicted, sensitive_features=groups)
        )
    return measured


def curves(labels: pd.Series, scores, groups: pd.Series | None, names=()) -> dict:
    """The ROC curve (at most ``ROC_POINTS`` points) and, per group, its size,
    selection rate, TPR and FPR at the 0.5 threshold (none without ``groups``),
    as plain JSON."""
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn import metrics as skm

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
    return {"roc": roc, "groups": group_rows(by_group)}


def group_rows(by_group: pd.DataFrame) -> dict[str, dict[str, float]]:
    """A fairlearn ``MetricFrame.by_group`` as JSON: group -> measure -> value."""
    return {
        str(group): {name: float(value) for name, value in row.items()}
        for group, row in by_group.iterrows()
    }


def group_sizes_and(name: str, measure, y_true, y_pred, groups) -> dict[str, dict[str, float]]:
    """Per group of ``groups``: its row count and ``measure(y_true, y_pred)`` as ``name``."""
    from fairlearn.metrics import MetricFrame

    return group_rows(
        MetricFrame(
            metrics={"count": lambda y, p: len(y), name: measure},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        ).by_group
    )


def feature_signal(frame: pd.DataFrame, labels: pd.Series) -> dict[str, float]:
    """Each feature's own AUC against 0/1 ``labels``, read either way (0.2 is as
    telling as 0.8, so ``max(auc, 1 - auc)``), best first, the ``SIGNAL_FEATURES``
    best. A number ranks rows by itself (a gap below every number); a text
    column by its categories' rate of positives, each half of the rows scored
    with the rates of the other half, so a column of unique values (an id)
    does not score itself perfectly."""
    from sklearn import metrics as skm

    frame, y = every_nth(frame, labels)
    if len(np.unique(y)) < 2:
        return {}
    signal = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == object:
            score = cross_fitted_means(values, y)
        else:
            numbers = values.to_numpy(dtype="float64")
            present = numbers[~np.isnan(numbers)]
            floor = present.min() - 1 if len(present) else 0.0
            score = np.where(np.isnan(numbers), floor, numbers)
        auc = float(skm.roc_auc_score(y, score))
        signal[str(name)] = round(max(auc, 1 - auc), 6)
    return best(signal)


def every_nth(frame: pd.DataFrame, labels) -> tuple[pd.DataFrame, np.ndarray]:
    """``frame`` and ``labels`` thinned to at most about ``SIGNAL_ROWS`` rows, evenly."""
    step = max(1, len(frame) // SIGNAL_ROWS)
    return frame.iloc[::step], np.asarray(labels)[::step]


def cross_fitted_means(values: pd.Series, y: np.ndarray) -> np.ndarray:
    """Each row's category mean of ``y`` (a gap is a category), every other row
    scored with the means of the rest; a category the other half never saw
    gets that half's overall mean."""
    half = np.arange(len(values)) % 2 == 0
    score = np.empty(len(values))
    for scored, fitted in ((half, ~half), (~half, half)):
        means = pd.Series(y[fitted]).groupby(values[fitted].fillna("").to_numpy()).mean()
        seen = values[scored].fillna("").map(means)
        score[scored] = seen.fillna(y[fitted].mean()).to_numpy(dtype="float64")
    return score


def best(signal: dict[str, float]) -> dict[str, float]:
    """The ``SIGNAL_FEATURES`` highest of ``signal``, best first."""
    return dict(sorted(signal.items(), key=lambda item: -item[1])[:SIGNAL_FEATURES])
