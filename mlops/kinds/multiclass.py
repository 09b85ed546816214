"""``multiclass-classification``: a label of 3 to 100 classes (text or numbers).

Scored as the predicted class and each class's probability, by class name;
judged by accuracy, F1 (macro and weighted), log loss and the recall of the
worst class and, with a sensitive column, the gaps in accuracy and in the
share predicted as each class between groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlops import label_checks
from mlops.kinds import Kind

# Probabilities of one row add up to 1 within this (float rounding).
SUM_TOLERANCE = 1e-4


def check_answer(answer: Mapping, rows: int) -> None:
    """``{"predictions": [class ...], "probabilities": [{class: p ...} ...]}``, one
    each per row: the same classes in every row, probabilities that add up to 1,
    and the predicted class the most probable one."""
    try:
        predictions = [str(label) for label in answer["predictions"]]
        probabilities = [
            {str(k): float(v) for k, v in row.items()} for row in answer["probabilities"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError("the answer is not the scoring contract's JSON") from None
    if len(probabilities) != rows or len(predictions) != rows:
        raise ValueError(f"{len(probabilities)} answers for {rows} rows")
    classes = set(probabilities[0]) if probabilities else set()
    if len(classes) < 3 or any(set(row) != classes for row in probabilities):
        raise ValueError("rows whose probabilities are not of the same three or more classes")
    for row in probabilities:
        values = list(row.values())
        if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in values):
            raise ValueError("answers that are not probabilities in [0, 1]")
        if abs(sum(values) - 1.0) > SUM_TOLERANCE:
            raise ValueError("a row whose class probabilities do not add up to 1")
    for label, row in zip(predictions, probabilities, strict=True):
        if label not in row or row[label] < max(row.values()) - SUM_TOLERANCE:
            raise ValueError("predicted classes that are not the most probable ones")


def draw(axes, curves: Mapping[str, tuple[Mapping, str]]) -> None:
    """Left: the candidate's confusion matrix on its test split (each actual class's
    row as shares). Right: each model's recall per class."""
    matrix_axes, recall_axes = axes
    candidate = next(data for label, (data, _) in curves.items() if label == "candidate")
    labels = candidate["confusion"]["labels"]
    counts = candidate["confusion"]["matrix"]
    shares = [[n / (sum(row) or 1) for n in row] for row in counts]
    matrix_axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            colour = "white" if shares[i][j] > 0.5 else "black"
            matrix_axes.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=7)
    ticks = range(len(labels))
    matrix_axes.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=7)
    matrix_axes.set_yticks(ticks, labels, fontsize=7)
    matrix_axes.set(xlabel="predicted", ylabel="actual", title="Candidate's confusion matrix")
    width = 0.8 / len(curves)
    for index, (label, (data, colour)) in enumerate(curves.items()):
        recall = data.get("recall", {})
        values = [recall.get(name, 0.0) for name in labels]
        positions = [i + (index - (len(curves) - 1) / 2) * width for i in ticks]
        recall_axes.bar(positions, values, width=width, color=colour, label=label)
    recall_axes.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=7)
    recall_axes.set(ylim=(0, 1), ylabel="recall", title="Recall per class")
    recall_axes.legend(fontsize=8)


KIND = Kind(
    name="multiclass-classification",
    summary="a label of 3 to 100 classes (words or numbers): the class and each one's probability",
    headline="accuracy",
    gate={
        "thresholds": [
            {"metric": "accuracy", "better": "higher", "min": 0.80},
            {"metric": "f1_macro", "better": "higher", "min": 0.75},
        ],
        "fairness": [{"metric": "accuracy_difference", "better": "lower", "max": 0.10}],
        "improvement": {
            "metric": "f1_macro",
            "better": "higher",
            "min_delta": 0.001,
            "relative": False,
        },
    },
    # Small, clean multiclass sets (wine, iris) are classified without error on
    # their test split for real: no bound is on unless a model sets one.
    plausibility=(),
    positive_class=False,
    check_label=label_checks.class_label,
    check_answer=check_answer,
    draw=draw,
    max_classes=label_checks.MAX_CLASSES,
    picture="confusion matrix and recall per class",
)
