"""``multiclass-classification``: a target of 3 to 100 classes (text or numbers).

Prep maps the labels, read as text, to codes 0..k-1 in sorted order
(numerically when every label is a number); the model is the binary kind's
gradient-boosting classifier, whose output is each class's probability; a
row is predicted as its most probable class. Measured by accuracy, balanced
accuracy, macro and weighted F1, log loss and the recall of the worst class,
and with a sensitive column by the largest gaps between groups in accuracy
and in the share predicted as a class. No feature signal yet.

Imports as kind_binary.py does: scikit-learn and fairlearn where used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from contract import ColumnRoles, Contract, label_text
from kind_binary import group_sizes_and

MIN_CLASSES, MAX_CLASSES = 3, 100


# -- prep ----------------------------------------------------------------------


def encode(values: pd.Series, roles: ColumnRoles) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 0..k-1 (int8) of the target's labels, as text (``label_text``), in
    sorted order: numerically when every label reads as a number, else as text;
    and the labels in code order. Raises ValueError unless there are 3 to 100."""
    text = label_text(values)
    distinct = text.unique().tolist()
    if len(distinct) == 2:
        raise ValueError("the target has 2 values: use kind binary-classification")
    if len(distinct) < MIN_CLASSES:
        raise ValueError(
            f"the target has {len(distinct)} value{'s' if len(distinct) != 1 else ''}: "
            f"a multiclass-classification needs {MIN_CLASSES} to {MAX_CLASSES} classes"
        )
    if len(distinct) > MAX_CLASSES:
        raise ValueError(
            f"the target has {len(distinct)} values: more than {MAX_CLASSES} classes; "
            "is it a number? use kind regression"
        )
    labels = tuple(sorted(distinct, key=float) if _all_numbers(distinct) else sorted(distinct))
    codes = text.map({label: code for code, label in enumerate(labels)})
    return codes.to_numpy(dtype="int8"), labels


def _all_numbers(labels: list[str]) -> bool:
    try:
        for label in labels:
            float(label)
    except ValueError:
        return False
    return True


def describe_target(codes: np.ndarray, labels: tuple[str, ...]) -> dict:
    """The prep summary's line on the target: the rows of each class."""
    counts = np.bincount(codes, minlength=len(labels))
    return {"class_rows": {label: int(n) for label, n in zip(labels, counts, strict=True)}}


# -- train ---------------------------------------------------------------------


def fit_metrics(model, frame: pd.DataFrame, labels: np.ndarray) -> dict[str, float]:
    """``train_accuracy`` on the rows the trees were fitted on."""
    return {"train_accuracy": float(np.mean(model.predict(frame) == labels))}


def output_shape(labels: tuple[str, ...]) -> tuple[int, ...]:
    """The signature's output: each row's probability of each class."""
    return (-1, len(labels))


# -- evaluate and score --------------------------------------------------------


def class_probabilities(output, rows: int, classes: int) -> np.ndarray:
    """The model's ``predict_proba`` output, one column per class; any other shape
    is a server-side fault (raised as ValueError, logged, HTTP 500)."""
    array = np.asarray(output, dtype=float)
    if array.shape != (rows, classes):
        raise ValueError(
            f"model output has shape {array.shape}; expected ({rows}, {classes}) probabilities"
        )
    return array


def predict(model, frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """Each row's probability of each class, a column per class in code order."""
    return class_probabilities(model.predict_proba(frame), len(frame), len(contract.labels))


def importance_score(labels: np.ndarray, scores: np.ndarray) -> float:
    """Accuracy (scikit-learn's ``accuracy`` scorer's): the share of rows whose most
    probable class is theirs."""
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(labels)))


def answer(scores: np.ndarray, contract: Contract) -> dict:
    """The scoring answer: each row's most probable class and every class's
    probability, by label in code order."""
    labels = contract.labels
    return {
        "predictions": [labels[code] for code in scores.argmax(axis=1)],
        "probabilities": [
            {label: float(p) for label, p in zip(labels, row, strict=True)} for row in scores
        ],
    }


def metrics(labels: pd.Series, scores: np.ndarray, groups: pd.Series | None) -> dict[str, float]:
    """The evaluation metrics of class probabilities ``scores`` against codes
    ``labels``; the fairness metrics only when there are ``groups``. The worst
    class's recall is over the classes the test split holds."""
    from sklearn import metrics as skm

    classes = list(range(scores.shape[1]))
    predicted = scores.argmax(axis=1)
    measured = {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(labels, predicted)),
        "f1_macro": float(skm.f1_score(labels, predicted, average="macro", zero_division=0)),
        "f1_weighted": float(skm.f1_score(labels, predicted, average="weighted", zero_division=0)),
        "log_loss": float(skm.log_loss(labels, scores, labels=classes)),
        "min_class_recall": min(class_recall(labels, predicted).values()),
        "test_rows": float(len(labels)),
    }
    if groups is not None:
        from fairlearn.metrics import MetricFrame

        accuracy = MetricFrame(
            metrics=skm.accuracy_score, y_true=labels, y_pred=predicted, sensitive_features=groups
        )
        shares = MetricFrame(
            metrics={str(code): _share_predicted(code) for code in classes},
            y_true=labels,
            y_pred=predicted,
            sensitive_features=groups,
        )
        measured["accuracy_difference"] = float(accuracy.difference())
        measured["selection_rate_difference"] = float(shares.difference().max())
    return measured


def _share_predicted(code: int):
    return lambda y_true, y_pred: float(np.mean(np.asarray(y_pred) == code))


def class_recall(labels, predicted: np.ndarray) -> dict[int, float]:
    """Each class of ``labels``' share of rows predicted as itself, by code."""
    actual = np.asarray(labels)
    return {
        int(code): float(np.mean(predicted[actual == code] == code)) for code in np.unique(actual)
    }


def curves(labels: pd.Series, scores: np.ndarray, groups: pd.Series | None, names) -> dict:
    """The confusion matrix (row: actual class, column: predicted, both in code
    order, labelled by ``names``), each class's recall (the classes the test
    split holds) and, per group, its size and accuracy (none without ``groups``),
    as plain JSON."""
    from sklearn import metrics as skm

    predicted = scores.argmax(axis=1)
    classes = list(range(scores.shape[1]))
    matrix = skm.confusion_matrix(labels, predicted, labels=classes)
    drawn = {
        "confusion": {"labels": list(names), "matrix": matrix.tolist()},
        "recall": {names[code]: recall for code, recall in class_recall(labels, predicted).items()},
        "groups": {},
    }
    if groups is not None:
        drawn["groups"] = group_sizes_and("accuracy", skm.accuracy_score, labels, predicted, groups)
    return drawn
