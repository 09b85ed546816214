"""``regression``: a number to predict.

Prep keeps the target as float64 (finite numbers, at least two distinct
values) and splits at random, without strata; the model is a
gradient-boosting regressor whose output is the number. Measured by RMSE,
MAE, R² and MAPE, and with a sensitive column by the largest gap in MAE
between groups. Each feature's signal is the R² it reaches alone.

Imports as kind_binary.py does: scikit-learn and fairlearn where used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from contract import ColumnRoles, Contract, is_boolean
from kind_binary import best, cross_fitted_means, every_nth, group_sizes_and

# Test rows drawn as points of predicted against actual, at most (evenly sampled).
POINTS = 500
RESIDUAL_BINS = 30
# Characters of a bad target value quoted in an error message.
VALUE_LIMIT = 40


# -- prep ----------------------------------------------------------------------


def encode(values: pd.Series, roles: ColumnRoles) -> tuple[np.ndarray, tuple[str, ...]]:
    """The target as float64 and no class labels. Raises ValueError naming the
    column unless every value is a finite number and there are two distinct ones."""
    column = roles.target_column
    if is_boolean(values):
        raise ValueError(
            f"target column {column!r} holds true/false, not numbers; "
            "use kind binary-classification for a yes/no target"
        )
    if not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        text = values[numbers.isna()]
        if len(text):
            example = str(text.iloc[0])[:VALUE_LIMIT]
            raise ValueError(
                f"target column {column!r} holds text, not numbers ({len(text)} "
                f"value{'s' if len(text) != 1 else ''}, e.g. {example!r}); fix those cells, "
                "or use kind multiclass-classification if the values name classes"
            )
        values = numbers
    target = values.to_numpy(dtype="float64")
    infinite = int(np.count_nonzero(~np.isfinite(target)))
    if infinite:
        raise ValueError(
            f"target column {column!r} has {infinite} infinite value"
            f"{'s' if infinite != 1 else ''}; fix them: a regression target is a finite number"
        )
    if len(np.unique(target)) < 2:
        raise ValueError(
            f"target column {column!r} has a single value; a regression needs a target that varies"
        )
    return target, ()


def describe_target(target: np.ndarray, labels: tuple[str, ...]) -> dict:
    """The prep summary's line on the target: its mean."""
    return {"target_mean": float(target.mean())}


# -- train ---------------------------------------------------------------------


def estimator(**options):
    """An unfitted gradient-boosting regressor (squared error)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**options)


def fit_metrics(model, frame: pd.DataFrame, target: np.ndarray) -> dict[str, float]:
    """``train_rmse`` on the rows the trees were fitted on."""
    errors = model.predict(frame) - target
    return {"train_rmse": float(np.sqrt(np.mean(errors**2)))}


def output_shape(labels: tuple[str, ...]) -> tuple[int, ...]:
    """The signature's output: one number per row."""
    return (-1,)


# -- evaluate and score --------------------------------------------------------


def predictions(output, rows: int) -> np.ndarray:
    """The model's ``predict`` output, one number per row; any other shape is a
    server-side fault (raised as ValueError, logged, HTTP 500)."""
    array = np.asarray(output, dtype=float)
    if array.shape != (rows,):
        raise ValueError(f"model output has shape {array.shape}; expected ({rows},) predictions")
    return array


def predict(model, frame: pd.DataFrame, contract: Contract) -> np.ndarray:
    """Each row's predicted number."""
    return predictions(model.predict(frame), len(frame))


def importance_score(labels: np.ndarray, scores: np.ndarray) -> float:
    """Minus the RMSE (scikit-learn's ``neg_root_mean_squared_error`` scorer's)."""
    return -float(np.sqrt(np.mean((np.asarray(labels, dtype=float) - scores) ** 2)))


def raw_output(model, frame: pd.DataFrame) -> np.ndarray:
    """The predicted number: a regression's output is its raw output."""
    return model.predict(frame)


def answer(scores: np.ndarray, contract: Contract) -> dict:
    """The scoring answer: each row's predicted number."""
    return {"predictions": [float(value) for value in scores]}


def metrics(labels: pd.Series, scores: np.ndarray, groups: pd.Series | None) -> dict[str, float]:
    """The evaluation metrics of predictions ``scores`` against the actual values
    ``labels``; the fairness metric only when there are ``groups``. MAPE is a
    fraction, over the rows whose actual value is not 0 (NaN when none is)."""
    from sklearn import metrics as skm

    actual = np.asarray(labels, dtype="float64")
    errors = scores - actual
    nonzero = actual != 0
    measured = {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": float(skm.r2_score(actual, scores)),
        "mape": (
            float(np.mean(np.abs(errors[nonzero]) / np.abs(actual[nonzero])))
            if nonzero.any()
            else float("nan")
        ),
        "test_rows": float(len(actual)),
    }
    if groups is not None:
        from fairlearn.metrics import MetricFrame

        gaps = MetricFrame(
            metrics=skm.mean_absolute_error,
            y_true=actual,
            y_pred=scores,
            sensitive_features=groups,
        )
        measured["mae_difference"] = float(gaps.difference())
    return measured


def curves(labels: pd.Series, scores: np.ndarray, groups: pd.Series | None, names=()) -> dict:
    """Predicted against actual for at most ``POINTS`` test rows (evenly sampled),
    a histogram of the residuals (predicted - actual) in ``RESIDUAL_BINS`` bins
    (values to 6 significant digits) and, per group, its size and MAE (none
    without ``groups``), as plain JSON."""
    actual = np.asarray(labels, dtype="float64")
    shown = np.unique(np.linspace(0, len(actual) - 1, min(len(actual), POINTS)).round().astype(int))
    counts, edges = np.histogram(scores - actual, bins=RESIDUAL_BINS)
    drawn = {
        "points": {"actual": _digits(actual[shown]), "predicted": _digits(scores[shown])},
        "residuals": {"edges": _digits(edges), "counts": counts.tolist()},
        "groups": {},
    }
    if groups is not None:
        from sklearn import metrics as skm

        drawn["groups"] = group_sizes_and("mae", skm.mean_absolute_error, actual, scores, groups)
    return drawn


def _digits(values: np.ndarray) -> list[float]:
    return [float(f"{value:.6g}") for value in values]


def feature_signal(frame: pd.DataFrame, labels: pd.Series) -> dict[str, float]:
    """Each feature's own R² against the target, best first, the ten best. A
    number's is its squared Pearson correlation with the target (a gap filled
    with the column's mean); a text column's is the R² of its categories' mean
    target, each half of the rows scored with the means of the other half (so
    an id does not explain the target by itself), clipped at 0."""
    frame, y = every_nth(frame, labels)
    y = y.astype("float64")
    spread = np.sum((y - y.mean()) ** 2)
    if spread == 0:
        return {}
    signal = {}
    for name in frame.columns:
        values = frame[name]
        if values.dtype == object:
            guess = cross_fitted_means(values, y)
            r2 = max(0.0, 1 - float(np.sum((y - guess) ** 2) / spread))
        else:
            numbers = values.to_numpy(dtype="float64")
            gaps = np.isnan(numbers)
            filled = np.where(gaps, numbers[~gaps].mean() if (~gaps).any() else 0.0, numbers)
            r2 = float(np.corrcoef(filled, y)[0, 1] ** 2) if filled.std() > 0 else 0.0
        signal[str(name)] = round(r2, 6)
    return best(signal)
