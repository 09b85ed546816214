"""SHAP values of the evaluate step (``--shap-rows``, off by default), where
shap computes them exactly.

``shap_entry`` gives ``explanations.json``'s ``shap`` entry: each feature's
mean absolute SHAP value (shap's ``TreeExplainer`` as it comes: TreeSHAP
along the trees' own paths, with no background data) on the rows it is
given, most important first, on the scale the kind's row names
(``shap_scale``: the log-odds for a classifier, averaged over the classes
for more than two, the predicted number for a regression).

SHAP values add up: each row's values plus the expected value are the
model's raw output for that row. That is checked on every row, and a model
whose values do not add up to within ``ADDITIVITY`` is not explained by a
wrong number: the entry says ``skipped`` and why. So is one shap cannot read
at all, and a HistGradientBoosting model with categorical splits (text
features): shap reads its trees' thresholds but not its category sets, and
its values for such a model are off by a large fraction of the output.

``ShapMissing`` is raised when the shap package is not installed: SHAP values
were asked for, and the step does not go on without them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

# Largest |sum of a row's SHAP values + expected value - raw output| accepted,
# relative to the spread of the raw output (at least 1): float sums of a few
# hundred trees are exact to about 1e-12.
ADDITIVITY = 1e-6


class ShapMissing(Exception):
    """SHAP values were asked for, and the shap package is not installed."""


def shap_entry(
    model, frame: pd.DataFrame, raw_output: Callable, scale: str, *, of_rows: int
) -> dict:
    """``explanations.json``'s ``shap`` entry for ``model`` on the rows of ``frame``
    (its features as the model takes them; ``of_rows`` the test rows they were
    drawn from). ``raw_output(model, frame)`` is what the values add up to:
    one number per row, or a column per class."""
    try:
        import shap
    except ImportError:
        raise ShapMissing(
            "SHAP values were asked for (--shap-rows, the settings' pipeline.shap_rows) "
            "but the shap package is not installed: locally `make setup` installs it "
            "(the `explain` dependency group; not on Intel macOS, which numba has no wheel "
            "for); on Azure ML, environments/train/conda.yml lists it"
        ) from None
    head = {"method": "shap.TreeExplainer", "scale": scale, "rows": len(frame), "of_rows": of_rows}
    categorical = getattr(model, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        split = zip(frame.columns, categorical, strict=True)
        names = ", ".join(str(name) for name, flag in split if flag)
        return {
            **head,
            "skipped": (
                f"the model splits on categories ({names}), which shap's TreeExplainer does "
                "not read: its values would not add up to the model's output"
            ),
        }
    try:
        explainer = shap.TreeExplainer(model)
        values = np.asarray(explainer.shap_values(frame), dtype=float)
    except Exception as error:  # shap's InvalidModelError, or what it raises on an estimator
        return {**head, "skipped": f"shap cannot explain {type(model).__name__}: {error}"}
    raw = np.asarray(raw_output(model, frame), dtype=float)
    # One column of values per feature: (rows, features), or (rows, features, classes).
    off = np.abs(values.sum(axis=1) + np.asarray(explainer.expected_value, dtype=float) - raw)
    worst = float(off.max()) if off.size else 0.0
    if worst > ADDITIVITY * max(1.0, float(np.ptp(raw)) if raw.size else 1.0):
        return {
            **head,
            "skipped": (
                f"shap's values for {type(model).__name__} do not add up to its output "
                f"(off by up to {worst:.3g})"
            ),
        }
    magnitude = np.abs(values).mean(axis=0)
    if magnitude.ndim == 2:  # a column per class: the mean over the classes
        magnitude = magnitude.mean(axis=1)
    features = [
        {"feature": str(name), "mean_abs": float(value)}
        for name, value in zip(frame.columns, magnitude, strict=True)
    ]
    features.sort(key=lambda entry: -entry["mean_abs"])
    return {**head, "additivity_error": worst, "features": features}
