"""Small synthetic CSV tables of the shapes a fork's own data takes, made in code.

Each has a binary label that depends on the features, so a model learns it
(AUC well above 0.7 on a few thousand rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _label(rng: np.random.Generator, signal: np.ndarray) -> np.ndarray:
    return rng.random(len(signal)) < 1 / (1 + np.exp(-signal))


def _gaps(rng: np.random.Generator, values: pd.Series, share: float) -> pd.Series:
    return values.mask(rng.random(len(values)) < share)


def mixed(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Numbers with gaps, an integer-coded category, text categories with gaps, a
    true/false column with gaps, a sensitive text column and a ``yes``/``no`` label."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, rows).round(2)
    age = rng.integers(18, 80, rows)
    education = rng.choice(["university", "high_school", "graduate", "other"], rows)
    region = rng.integers(1, 6, rows)
    owner = rng.random(rows) < 0.4
    sex = rng.choice(["male", "female"], rows)
    signal = (
        -3.0 * (np.log(income) - 10)
        + 0.06 * (45 - age)
        + np.where(education == "other", 2.0, 0.0)
        + np.where(owner, -1.5, 0.8)
        + 0.4 * (region - 3)
        - 0.8
    )
    return pd.DataFrame(
        {
            "income": _gaps(rng, pd.Series(income), 0.05),
            "age": age,
            "region_code": region,
            "education": _gaps(rng, pd.Series(education), 0.04),
            "home_owner": _gaps(rng, pd.Series(owner, dtype=object), 0.03),
            "sex": sex,
            "defaulted": np.where(_label(rng, signal), "yes", "no"),
        }
    )


def numeric_only(rows: int = 3000, seed: int = 1) -> pd.DataFrame:
    """Numbers only (one with gaps), no group column, label 0/1."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, rows))
    signal = 1.6 * x1 - 1.1 * x2 + 0.5 * x3
    return pd.DataFrame(
        {
            "x1": x1.round(4),
            "x2": _gaps(rng, pd.Series(x2.round(4)), 0.05),
            "x3": x3.round(4),
            "churned": _label(rng, signal).astype(int),
        }
    )


def multi_group(rows: int = 3000, seed: int = 2) -> pd.DataFrame:
    """A sensitive column of four groups and a true/false label."""
    rng = np.random.default_rng(seed)
    score, tenure = rng.normal(size=(2, rows))
    group = rng.choice(["north", "south", "east", "west"], rows)
    return pd.DataFrame(
        {
            "score": score.round(4),
            "tenure": tenure.round(4),
            "region": group,
            "approved": _label(rng, 1.8 * score + 0.8 * tenure),
        }
    )


# Column names a spreadsheet export may well have: spaces, a comma, quotes, ``$``,
# non-ASCII letters and a leading digit.
AWKWARD = {
    "income": "monthly income ($)",
    "age": "âge, in years",
    "region_code": "2nd region",
    "education": 'education "level"',
    "home_owner": "home owner",
    "defaulted": "2nd größe",
}


def awkward_mixed(rows: int = 3000) -> pd.DataFrame:
    """``mixed`` without its sensitive column, every column renamed by ``AWKWARD``."""
    return mixed(rows).drop(columns="sex").rename(columns=AWKWARD)
