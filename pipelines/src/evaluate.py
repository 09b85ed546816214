"""Evaluate step: score the test split with the trained model.

Reads the test split and the model, with its contract (contract.py: the
model's kind, which columns are features, the target and the sensitive
column), and writes what the kind's row in kinds.py measures into
``<metrics_output>``:

- ``metrics.json``, a flat object of floats, logged to the active MLflow run
  as well. The names, their order and the way each improves are listed in
  ``metrics/<kind>.json`` beside this script, the one list the gate's rules
  are checked against; the step fails if what it computed and the catalogue
  disagree. Metrics marked ``"needs": "groups"`` (fairness: lower is fairer,
  from fairlearn) are written only when the roles name a sensitive column.
- ``curves.json``, what the gate report draws, per group of the sensitive
  column included (no groups without one).
- ``feature_signal.json``, each feature's own signal on the test split, best
  first (the ten best): when a model is too good to be true, the gate names
  the feature that explains it.
- ``answers.parquet``, the model's answer for each test row as the scoring
  script gives it (one column, ``prediction``: the class, or the number):
  what ``mlops monitor`` measures the collected answers' drift against.

and into ``<explanations_output>``, logged to the MLflow run as well:

- ``explanations.json``, what the model relies on: each feature's
  permutation importance (``explain.py``) with the kind's main metric as
  scikit-learn scores it (``roc_auc``, ``accuracy``, or
  ``neg_root_mean_squared_error``), mean and standard deviation over
  ``--explain-repeats`` shuffles from ``--seed``, on at most
  ``--explain-rows`` test rows (drawn with the seed), most important first.
  With ``--shap-rows`` N (0, the default: none), also each feature's mean
  absolute SHAP value on at most N test rows (``explain_shap.py``; the
  ``shap`` entry, or why the model was not explained by it).

By kind:

- binary-classification: ROC AUC, accuracy, precision, recall, F1, log loss
  at a 0.5 threshold; the demographic parity and equalized odds differences.
  Curves: the ROC curve (at most 201 points) and each group's size,
  selection rate, TPR and FPR. Signal: each feature's own AUC (``auc``).
- multiclass-classification: accuracy, balanced accuracy, macro and weighted
  F1, log loss, the worst class's recall; the largest gaps between groups in
  accuracy and in the share predicted as a class. Curves: the confusion
  matrix, each class's recall and each group's size and accuracy. Signal:
  none yet (``{}``).
- regression: RMSE, MAE, R², MAPE; the largest gap in MAE between groups.
  Curves: predicted against actual (at most 500 rows), a histogram of the
  residuals and each group's size and MAE. Signal: each feature's own R²
  (``r2``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The model's format (skops), before MLflow: see model_format.py.
import model_format  # noqa: F401  # isort: skip
import mlflow
import mlflow.sklearn
import pandas as pd
from contract import BINARY, CONTRACT_FILE, load_contract
from explain import explanations, permutation_importance, sample
from explain_shap import ShapMissing, shap_entry
from kind_binary import ROC_POINTS as ROC_POINTS  # points of a binary ROC curve, at most
from kinds import KINDS

from common import fail, output_file, read_split

CATALOGS = Path(__file__).with_name("metrics")
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.json"
SIGNAL_FILE = "feature_signal.json"
ANSWERS_FILE = "answers.parquet"
EXPLANATIONS_FILE = "explanations.json"


def catalog_file(kind: str) -> Path:
    """The metric catalogue of models of ``kind``: ``metrics/<kind>.json``."""
    return CATALOGS / f"{kind}.json"


# A binary classifier's, the kind of every model saved before kinds existed.
CATALOG = catalog_file(BINARY)


def evaluate(
    labels: pd.Series, scores, groups: pd.Series | None, kind: str = BINARY
) -> dict[str, float]:
    """The evaluation metrics of a ``kind`` model's ``scores`` (see kinds.py)
    against ``labels``; the fairness metrics only when there are ``groups``."""
    return KINDS[kind].metrics(labels, scores, groups)


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


def curves(
    labels: pd.Series,
    scores,
    groups: pd.Series | None,
    kind: str = BINARY,
    names: tuple[str, ...] = ("0", "1"),
) -> dict:
    """What the gate report draws of a ``kind`` model's ``scores`` against
    ``labels`` (classes named ``names`` in code order), as plain JSON; no
    groups without ``groups``."""
    return KINDS[kind].curves(labels, scores, groups, names)


def feature_signal(frame: pd.DataFrame, labels: pd.Series, kind: str = BINARY) -> dict:
    """Each feature of the model's input ``frame``'s own signal about ``labels``,
    best first, as the ``kind`` measures it; empty for a kind without one."""
    measure = KINDS[kind].feature_signal
    return measure(frame, labels) if measure else {}


def signal_file(frame: pd.DataFrame, labels: pd.Series, kind: str) -> dict:
    """``feature_signal.json``: the signal under its measure's name (``auc``, ``r2``),
    or ``{}`` for a kind without one."""
    name = KINDS[kind].signal_measure
    return {name: feature_signal(frame, labels, kind)} if name else {}


def explain_model(model, contract, frame: pd.DataFrame, labels, args) -> dict:
    """``explanations.json`` of ``model`` on the test rows ``frame`` (see the module
    docstring)."""
    kind = KINDS[contract.kind]
    if args.explain_rows < 1 or args.explain_repeats < 1 or args.shap_rows < 0:
        raise ValueError(
            "--explain-rows and --explain-repeats take a positive integer, --shap-rows "
            "0 (no SHAP values) or more"
        )
    rows, answers = sample(frame, labels, args.explain_rows, args.seed)
    baseline, importances = permutation_importance(
        lambda part: kind.predict(model, part, contract),
        kind.importance_score,
        rows,
        answers,
        args.explain_repeats,
        args.seed,
    )
    explained = explanations(
        rows, baseline, importances, kind.importance_scoring, seed=args.seed, of_rows=len(frame)
    )
    if args.shap_rows > 0:
        rows, _ = sample(frame, labels, args.shap_rows, args.seed)
        explained["shap"] = shap_entry(
            model, rows, kind.raw_output, kind.shap_scale, of_rows=len(frame)
        )
    return explained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--test-data", required=True, type=Path)
    parser.add_argument("--metrics-output", required=True, type=Path)
    parser.add_argument("--explanations-output", type=Path)
    parser.add_argument("--explain-rows", type=int, default=200)
    parser.add_argument("--explain-repeats", type=int, default=5)
    parser.add_argument("--shap-rows", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    try:
        contract = load_contract(args.model)
        model = mlflow.sklearn.load_model(str(args.model))
    except (OSError, ValueError) as error:
        return fail(f"{args.model}: {error}")
    roles = contract.roles
    if roles is None:
        return fail(f"{args.model}: no {CONTRACT_FILE} beside the model; train it again")
    kind, catalog = KINDS[contract.kind], catalog_file(contract.kind)
    try:
        table = read_split(args.test_data)
        frame = contract.model_frame(table)
        scores = kind.predict(model, frame, contract)
        labels = table[roles.target_column]
        groups = table[roles.sensitive_column] if roles.sensitive_column else None
        measured = evaluate(labels, scores, groups, kind.name)
        results = in_catalog_order(measured, catalog, groups=groups is not None)
        drawn = curves(labels, scores, groups, kind.name, contract.labels)
        signal = signal_file(frame, labels, kind.name)
        answers = pd.DataFrame({"prediction": kind.answer(scores, contract)["predictions"]})
        explained = (
            explain_model(model, contract, frame, labels, args)
            if args.explanations_output
            else None
        )
    except ShapMissing as error:
        return fail(str(error))
    except (OSError, KeyError, ValueError) as error:
        return fail(f"{args.test_data}: {error}")

    output_file(args.metrics_output, METRICS_FILE).write_text(json.dumps(results, indent=2))
    output_file(args.metrics_output, CURVES_FILE).write_text(json.dumps(drawn))
    output_file(args.metrics_output, SIGNAL_FILE).write_text(
        json.dumps(signal, indent=2, ensure_ascii=False)
    )
    answers.to_parquet(output_file(args.metrics_output, ANSWERS_FILE), index=False)
    if explained is not None:
        text = json.dumps(explained, indent=2, ensure_ascii=False)
        output_file(args.explanations_output, EXPLANATIONS_FILE).write_text(text)
    with mlflow.start_run():
        mlflow.log_metrics(results)
        if explained is not None:
            mlflow.log_dict(explained, EXPLANATIONS_FILE)
    if groups is None:
        print("no sensitive column: fairness not measured")
    counted = {
        name for name, entry in json.loads(catalog.read_text()).items() if not entry["better"]
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
