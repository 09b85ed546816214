"""``regression``: a number to predict.

Scored as the number; judged by RMSE, MAE, R² and MAPE and, with a sensitive
column, the gap in MAE between groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlops import label_checks
from mlops.kinds import Kind


def check_answer(answer: Mapping, rows: int) -> None:
    """``{"predictions": [number ...]}``, one finite number per row."""
    try:
        predictions = answer["predictions"]
        numbers = [float(p) for p in predictions if not isinstance(p, bool | str)]
    except (KeyError, TypeError, ValueError):
        raise ValueError("the answer is not the scoring contract's JSON") from None
    if len(numbers) != len(predictions):
        raise ValueError("predictions that are not numbers")
    if len(numbers) != rows:
        raise ValueError(f"{len(numbers)} answers for {rows} rows")
    if not all(math.isfinite(p) for p in numbers):
        raise ValueError("predictions that are not finite numbers")


def draw(axes, curves: Mapping[str, tuple[Mapping, str]]) -> None:
    """Left: predicted against actual on each model's test split. Right: the
    distribution of each model's residuals (predicted - actual)."""
    points, residuals = axes
    low, high = math.inf, -math.inf
    for label, (data, colour) in curves.items():
        actual, predicted = data["points"]["actual"], data["points"]["predicted"]
        points.scatter(actual, predicted, s=8, alpha=0.6, color=colour, label=label)
        low, high = min(low, *actual, *predicted), max(high, *actual, *predicted)
    if math.isfinite(low):
        points.plot([low, high], [low, high], color="#cccccc", linestyle=":", linewidth=1)
    points.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test split)")
    points.legend(fontsize=8)
    for label, (data, colour) in curves.items():
        edges, counts = data["residuals"]["edges"], data["residuals"]["counts"]
        total = sum(counts) or 1
        residuals.stairs([n / total for n in counts], edges, color=colour, label=label)
    residuals.axvline(0, color="#cccccc", linestyle=":", linewidth=1)
    residuals.set(xlabel="predicted - actual", ylabel="share of rows", title="Residuals")
    residuals.legend(fontsize=8)


KIND = Kind(
    name="regression",
    summary="a number to predict (a price, a duration, a score): the number",
    headline="rmse",
    gate={
        "thresholds": [{"metric": "r2", "better": "higher", "min": 0.25}],
        # In the label's own units: set a bound that fits the data before turning it on.
        "fairness": [],
        # rmse is in the label's units: an improvement of 0.5 % of the champion's.
        "improvement": {"metric": "rmse", "better": "lower", "min_delta": 0.005, "relative": True},
    },
    plausibility=({"metric": "r2", "better": "higher", "implausible_at": 0.999},),
    positive_class=False,
    check_label=label_checks.number_label,
    check_answer=check_answer,
    draw=draw,
    max_classes=0,
    picture="predicted against actual and the residuals",
    prediction_type="numerical",
)
