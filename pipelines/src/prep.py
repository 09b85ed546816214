"""Prepare step: clean the raw table and split it into train and test sets.

Reads one CSV file, drops exact duplicate records and rows without a target,
keeps the named feature columns plus the target and the sensitive column, maps
the target to 0/1 and writes a stratified, seeded split as Parquet:
``<train_data>/data.parquet`` and ``<test_data>/data.parquet``. The raw file
is never modified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from common import fail, output_file, split_list

DATA_FILE = "data.parquet"


def check_columns(table: pd.DataFrame, names: list[str]) -> None:
    """Raise ValueError naming the columns of ``names`` that ``table`` lacks."""
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise ValueError(f"columns not in the data: {', '.join(missing)}")


def label_text(values: pd.Series) -> pd.Series:
    """Labels as text; whole floats (a label column read with gaps) lose their ".0"."""
    present = values.dropna()
    if pd.api.types.is_float_dtype(values) and (present == present.round()).all():
        return values.map(lambda v: str(int(v)) if pd.notna(v) else "nan")
    return values.astype(str)


def encode_target(values: pd.Series, positive_class: str) -> pd.Series:
    """Map a two-valued target to 0/1, 1 where the value reads ``positive_class``
    (a float column of whole numbers reads as integers: 1.0 is "1")."""
    text = label_text(values)
    distinct = sorted(text.unique())
    if len(distinct) != 2:
        raise ValueError(f"target must have exactly two values, found {len(distinct)}")
    if positive_class not in distinct:
        raise ValueError(f"positive class {positive_class!r} is not one of {distinct}")
    return (text == positive_class).astype("int8")


def stratified_split(
    table: pd.DataFrame, label: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``table`` so that each value of ``label`` puts ``test_size`` of its
    rows (rounded) in the test set; the same seed gives the same split.
    Written with numpy: importing scikit-learn for this would double the
    step's start-up time."""
    rng = np.random.default_rng(seed)
    test_rows = []
    for _, rows in sorted(table.groupby(label, sort=True).indices.items()):
        shuffled = rng.permutation(rows)
        test_rows.append(shuffled[: round(len(rows) * test_size)])
    is_test = np.zeros(len(table), dtype=bool)
    is_test[np.concatenate(test_rows)] = True
    return table[~is_test], table[is_test]


def prepare(
    raw: pd.DataFrame,
    *,
    target: str,
    sensitive: str,
    features: list[str],
    positive_class: str = "1",
    test_size: float = 0.2,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Clean and split ``raw``; returns (train, test, summary)."""
    check_columns(raw, [*features, sensitive, target])
    rows_in = len(raw)
    # Duplicates are whole records repeated; rows that merely agree on the
    # selected columns are different people and stay.
    table = raw.drop_duplicates().dropna(subset=[target])[[*features, sensitive, target]]
    table = table.assign(**{target: encode_target(table[target], positive_class)})
    train, test = stratified_split(table, target, test_size, seed)
    summary = {
        "rows_in": rows_in,
        "rows_dropped": rows_in - len(table),
        "rows_train": len(train),
        "rows_test": len(test),
        "features": features,
        "positive_rate": float(table[target].mean()),
    }
    return train.reset_index(drop=True), test.reset_index(drop=True), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-data", required=True, type=Path)
    parser.add_argument("--target-column", required=True)
    parser.add_argument("--sensitive-column", required=True)
    parser.add_argument("--positive-class", default="1")
    parser.add_argument("--features", type=split_list, required=True)
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train-data", required=True, type=Path)
    parser.add_argument("--test-data", required=True, type=Path)
    args = parser.parse_args(argv)

    try:
        raw = pd.read_csv(args.raw_data)
        train, test, summary = prepare(
            raw,
            target=args.target_column,
            sensitive=args.sensitive_column,
            features=args.features,
            positive_class=args.positive_class,
            test_size=args.test_size,
            seed=args.seed,
        )
    except (OSError, ValueError) as error:
        return fail(f"{args.raw_data}: {error}")
    train.to_parquet(output_file(args.train_data, DATA_FILE), index=False)
    test.to_parquet(output_file(args.test_data, DATA_FILE), index=False)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
