"""Model kinds: what each step does for a model of each kind, one row per kind.

The kind is named in the column roles (``columns.json``, see contract.py) and
saved in the model's ``data_contract.json``; every step looks up its row in
``KINDS`` and calls it, so adding a kind is adding a module and a row here,
its name to ``contract.KIND_NAMES`` and its metric catalogue
``metrics/<kind>.json``. The rows are built from
``kind_binary.py``, ``kind_multiclass.py`` and ``kind_regression.py``.

Scores are the model's output as evaluation and scoring read it, checked for
shape: the positive class's probability per row (binary), each class's
probability per row (multiclass), the predicted number per row (regression).
Labels are the test split's target: class codes, or the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import kind_binary
import kind_multiclass
import kind_regression


@dataclass(frozen=True)
class Kind:
    name: str
    # prep: (target values, roles) -> (codes or numbers, class labels in code order);
    # raises ValueError saying what is wrong with the target and what to do.
    encode: Callable
    # prep: whether the train/test split keeps each class's share (it splits at random if not);
    # train: whether the rows held out for early stopping do.
    stratified: bool
    # prep: (codes, labels) -> the summary's entries on the target.
    describe_target: Callable
    # train: (**options) -> an unfitted scikit-learn estimator.
    estimator: Callable
    # train: (model, frame, labels) -> the kind's own training metric, first in the log.
    fit_metrics: Callable
    # train: the method MLflow's pyfunc flavour calls, and (labels) -> the output's shape.
    predict_fn: str
    output_shape: Callable
    # evaluate and score: (model, frame, contract) -> the scores; a wrong shape is a ValueError.
    predict: Callable
    # score: (scores, contract) -> the answer's JSON.
    answer: Callable
    # evaluate: (labels, scores, groups or None) -> metrics.json's values.
    metrics: Callable
    # evaluate: (labels, scores, groups or None, class labels) -> curves.json.
    curves: Callable
    # evaluate: feature_signal.json's key and (frame, labels) -> each feature's
    # own value of it; no key: no signal (the file holds {}).
    signal_measure: str | None
    feature_signal: Callable | None
    # evaluate: the scikit-learn scorer the permutation importance scores with, and
    # (labels, scores) -> its value (higher is better), computed from the scores.
    importance_scoring: str
    importance_score: Callable
    # evaluate (SHAP values, explain_shap.py): (model, frame) -> the raw output a
    # row's SHAP values add up to, and what that output is.
    raw_output: Callable
    shap_scale: str


KINDS: dict[str, Kind] = {
    "binary-classification": Kind(
        name="binary-classification",
        encode=kind_binary.encode,
        stratified=True,
        describe_target=kind_binary.describe_target,
        estimator=kind_binary.estimator,
        fit_metrics=kind_binary.fit_metrics,
        predict_fn="predict_proba",
        output_shape=kind_binary.output_shape,
        predict=kind_binary.predict,
        answer=kind_binary.answer,
        metrics=kind_binary.metrics,
        curves=kind_binary.curves,
        signal_measure="auc",
        feature_signal=kind_binary.feature_signal,
        importance_scoring="roc_auc",
        importance_score=kind_binary.importance_score,
        raw_output=kind_binary.raw_output,
        shap_scale="log-odds of the positive class",
    ),
    "multiclass-classification": Kind(
        name="multiclass-classification",
        encode=kind_multiclass.encode,
        stratified=True,
        describe_target=kind_multiclass.describe_target,
        # The binary kind's classifier: it fits one tree per class when there are more than two.
        estimator=kind_binary.estimator,
        fit_metrics=kind_multiclass.fit_metrics,
        predict_fn="predict_proba",
        output_shape=kind_multiclass.output_shape,
        predict=kind_multiclass.predict,
        answer=kind_multiclass.answer,
        metrics=kind_multiclass.metrics,
        curves=kind_multiclass.curves,
        signal_measure=None,
        feature_signal=None,
        importance_scoring="accuracy",
        importance_score=kind_multiclass.importance_score,
        raw_output=kind_binary.raw_output,
        shap_scale="log-odds of each class (the mean over the classes)",
    ),
    "regression": Kind(
        name="regression",
        encode=kind_regression.encode,
        stratified=False,
        describe_target=kind_regression.describe_target,
        estimator=kind_regression.estimator,
        fit_metrics=kind_regression.fit_metrics,
        predict_fn="predict",
        output_shape=kind_regression.output_shape,
        predict=kind_regression.predict,
        answer=kind_regression.answer,
        metrics=kind_regression.metrics,
        curves=kind_regression.curves,
        signal_measure="r2",
        feature_signal=kind_regression.feature_signal,
        importance_scoring="neg_root_mean_squared_error",
        importance_score=kind_regression.importance_score,
        raw_output=kind_regression.raw_output,
        shap_scale="the predicted number",
    ),
}
