"""What a model version's production traffic is judged against: its baseline.

A version's baseline is the features of its training split (as its training
run's prep cut them) and, where its evaluate step wrote them, its answers on
the test split (``training_data.baseline_of`` finds them). A promotion
carries it to the registry beside the version's files as ``features.parquet``
and ``answers.parquet`` (``Baseline.write``), so that staging and prod judge
their traffic against the same rows as dev.

A baseline holds at most ``BASELINE_ROWS`` rows of each part (a seeded
sample of a larger split): the measures compare distributions, which that
many rows describe closely enough for any threshold of the settings, and a
promotion then carries a bounded file whatever the data's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops.errors import UserError
from mlops.monitoring.judge import PREDICTION

BASELINE_ROWS = 100_000
FEATURES_FILE, ANSWERS_PARQUET = "features.parquet", "answers.parquet"


@dataclass(frozen=True)
class Baseline:
    """A version's training features and (None where unknown) its test answers."""

    features: pd.DataFrame
    answers: pd.Series | None

    def write(self, folder: Path) -> None:
        """The baseline as ``features.parquet`` (and ``answers.parquet``, one column
        ``prediction``) in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.features.to_parquet(folder / FEATURES_FILE, index=False)
        if self.answers is not None:
            self.answers.to_frame(PREDICTION).to_parquet(folder / ANSWERS_PARQUET, index=False)

    @classmethod
    def read(cls, folder: Path) -> Baseline:
        """The baseline ``write`` left in ``folder``; ``UserError`` naming the file
        that cannot be read."""
        features = _read(folder / FEATURES_FILE)
        answers = None
        if (folder / ANSWERS_PARQUET).is_file():
            answers = _read(folder / ANSWERS_PARQUET)
            if PREDICTION not in answers.columns:
                raise UserError(
                    f"{folder / ANSWERS_PARQUET}: no column {PREDICTION!r}; promote the "
                    "version again from the environment that trained it"
                )
            answers = answers[PREDICTION]
        return cls(features, answers)


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as problem:
        raise UserError(
            f"{path}: the baseline cannot be read ({problem}); promote the version again "
            "from the environment that trained it"
        ) from None


def bounded(table: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """``table`` itself, or a seeded sample of ``BASELINE_ROWS`` of its rows in
    their order, when it is longer."""
    if len(table) <= BASELINE_ROWS:
        return table
    return table.sample(n=BASELINE_ROWS, random_state=0).sort_index()
