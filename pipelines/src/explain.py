"""What the model relies on: permutation importance on the held-out split.

``permutation_importance`` computes what ``sklearn.inspection.
permutation_importance`` computes for the same rows, scorer and seed (the
same shuffles, each repeat shuffling the column again, the importance being
the baseline score less the score with the column shuffled), but scores the
shuffled copies in a few large predict calls instead of one call per
feature and repeat: the fixed cost of a call (the estimator's checks, the
scorer's) is most of what the library's loop spends on a test split of a
few thousand rows. The copies of one call hold at most ``MAX_CELLS`` values,
so memory stays bounded however wide the table.

``sample`` bounds the rows first (the ``explain_rows`` input): the cost is
that of predicting ``features x repeats x rows`` rows, whatever the size of
the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

# Values (rows x columns) in the shuffled copies one predict call scores.
MAX_CELLS = 4_000_000


def sample(frame: pd.DataFrame, labels, rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``frame`` and ``labels`` (one per row), or ``rows`` of them drawn with ``seed``
    (in their order) when there are more."""
    labels = np.asarray(labels)
    if len(frame) <= rows:
        return frame.reset_index(drop=True), labels
    chosen = np.sort(np.random.RandomState(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[chosen].reset_index(drop=True), labels[chosen]


def permutation_importance(
    predict: Callable[[pd.DataFrame], np.ndarray],
    score: Callable[[np.ndarray, np.ndarray], float],
    frame: pd.DataFrame,
    labels: np.ndarray,
    repeats: int,
    seed: int,
) -> tuple[float, np.ndarray]:
    """(the score of ``predict`` on ``frame``, the importances: one row per column
    of ``frame``, one value per repeat). ``score(labels, predictions)`` is higher
    for a better model; ``predict`` gives one prediction (or one row of them) per
    row of the frame it is given."""
    baseline = float(score(labels, predict(frame)))
    importances = np.empty((frame.shape[1], repeats))
    per_call = max(1, MAX_CELLS // max(1, frame.size))
    pending: list[tuple[int, int, np.ndarray]] = []
    for job in _shuffled(frame, repeats, seed):
        pending.append(job)
        if len(pending) == per_call:
            _score_copies(predict, score, frame, labels, pending, baseline, importances)
            pending = []
    if pending:
        _score_copies(predict, score, frame, labels, pending, baseline, importances)
    return baseline, importances


def _shuffled(
    frame: pd.DataFrame, repeats: int, seed: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(column, repeat, that column's values) for each shuffled copy, in the order
    and with the shuffles of scikit-learn's permutation importance: one draw from
    ``seed`` seeds every column's shuffles, and each repeat shuffles the column
    (and the index it is shuffled by) again."""
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    for column in range(frame.shape[1]):
        shuffler = np.random.RandomState(column_seed)
        order = np.arange(len(frame))
        values = frame.iloc[:, column].to_numpy()
        for repeat in range(repeats):
            shuffler.shuffle(order)
            values = values[order]
            yield column, repeat, values


def _score_copies(predict, score, frame, labels, jobs, baseline, importances) -> None:
    """Score the copies of ``frame`` that ``jobs`` shuffle, in one predict call."""
    rows, copies = len(frame), len(jobs)
    stacked = {name: np.tile(frame[name].to_numpy(), copies) for name in frame.columns}
    for place, (column, _, values) in enumerate(jobs):
        stacked[frame.columns[column]][place * rows : (place + 1) * rows] = values
    predictions = predict(pd.DataFrame(stacked, columns=frame.columns))
    for place, (column, repeat, _) in enumerate(jobs):
        part = predictions[place * rows : (place + 1) * rows]
        importances[column, repeat] = baseline - float(score(labels, part))


def explanations(
    frame: pd.DataFrame,
    baseline: float,
    importances: np.ndarray,
    scoring: str,
    *,
    seed: int,
    of_rows: int,
) -> dict:
    """``explanations.json``: how it was measured, and each feature's importance
    (mean and standard deviation over the repeats), most important first."""
    features = [
        {
            "feature": str(name),
            "mean": float(importances[position].mean()),
            "std": float(importances[position].std()),
        }
        for position, name in enumerate(frame.columns)
    ]
    features.sort(key=lambda entry: -entry["mean"])
    return {
        "method": "permutation_importance",
        "scoring": scoring,
        "repeats": int(importances.shape[1]),
        "seed": seed,
        "rows": len(frame),
        "of_rows": of_rows,
        "baseline_score": baseline,
        "features": features,
    }
