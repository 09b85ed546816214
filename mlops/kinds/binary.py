"""``binary-classification``: a label of two values, one of them the positive class.

Scored as the probability of the positive class; judged by AUC, log loss and,
with a sensitive column, the gaps in selection rate and error rates between groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlops import label_checks
from mlops.kinds import Kind
from mlops.kinds.pictures import draw_group_bars

THRESHOLD = 0.5


def check_answer(answer: Mapping, rows: int) -> None:
    """``{"predictions": [0 | 1 ...], "probabilities": [p ...]}``, one each per row,
    the label being whether p reaches 0.5."""
    try:
        probabilities = [float(p) for p in answer["probabilities"]]
        predictions = [int(p) for p in answer["predictions"]]
    except (KeyError, TypeError, ValueError):
        raise ValueError("the answer is not the scoring contract's JSON") from None
    if len(probabilities) != rows or len(predictions) != rows:
        raise ValueError(f"{len(probabilities)} answers for {rows} rows")
    if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError("answers that are not probabilities in [0, 1]")
    if any(
        label != int(p >= THRESHOLD) for label, p in zip(predictions, probabilities, strict=True)
    ):
        raise ValueError("labels that disagree with their probabilities")


def draw(axes, curves: Mapping[str, tuple[Mapping, str]]) -> None:
    """Left: each model's ROC curve on its test split. Right: per group of the
    sensitive column, the share predicted positive."""
    roc, rates = axes
    for label, (data, colour) in curves.items():
        fpr, tpr = data["roc"]["fpr"], data["roc"]["tpr"]
        auc = sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2 for i in range(1, len(fpr)))
        roc.plot(fpr, tpr, color=colour, label=f"{label} (AUC {auc:.3f})")
    roc.plot([0, 1], [0, 1], color="#cccccc", linestyle=":", linewidth=1)
    roc.set(
        xlabel="false positive rate", ylabel="true positive rate", title="ROC on the test split"
    )
    roc.legend(loc="lower right", fontsize=8)
    draw_group_bars(
        rates, curves, "selection_rate", "share predicted positive", "Selection rate by group"
    )


KIND = Kind(
    name="binary-classification",
    summary="a label of two values (yes/no, 0/1, two words): the probability of one of them",
    headline="auc",
    gate={
        "thresholds": [
            {"metric": "auc", "better": "higher", "min": 0.70},
            {"metric": "log_loss", "better": "lower", "max": 0.50},
        ],
        "fairness": [
            {"metric": "demographic_parity_difference", "better": "lower", "max": 0.10},
            {"metric": "equalized_odds_difference", "better": "lower", "max": 0.10},
        ],
        "improvement": {"metric": "auc", "better": "higher", "min_delta": 0.001, "relative": False},
    },
    plausibility=({"metric": "auc", "better": "higher", "implausible_at": 0.995},),
    positive_class=True,
    check_label=label_checks.binary_label,
    check_answer=check_answer,
    draw=draw,
    max_classes=2,
    picture="ROC curves and per-group rates",
)
