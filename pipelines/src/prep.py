"""Prepare step: clean the raw table and split it into train and test sets.

Reads one CSV file and the column roles (``--columns``, see contract.py),
drops exact duplicate records and rows without a target, keeps the feature
columns plus the target and the sensitive column (if any), stores each
feature in the type of its kind (numbers, booleans, text; gaps stay gaps),
encodes the target as the model's kind (kinds.py) reads it and writes a
seeded split as Parquet: ``<train_data>/data.parquet`` and
``<test_data>/data.parquet``, and in ``<train_data>/split.json`` what the
class codes stand for and which features have gaps. The raw file is never
modified. By kind:

- binary-classification: the target as 0/1 (1 for the positive class), a
  split stratified by class;
- multiclass-classification: 3 to 100 classes as codes 0..k-1 in sorted
  order (numerically when every label is a number), stratified by class;
- regression: the target as float64 (finite numbers, not all the same), a
  random split; no class codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from contract import ColumnRoles, normalize_features, read_roles
from kinds import KINDS

from common import SPLIT_FILE, fail, output_file

DATA_FILE = "data.parquet"
# Rows parsed at a time: pandas holds about three times a table while it
# parses it whole, and twice when it joins parts of this size.
READ_ROWS = 200_000


def check_columns(table: pd.DataFrame, names: list[str]) -> None:
    """Raise ValueError naming the columns of ``names`` that ``table`` lacks."""
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise ValueError(f"columns not in the data: {', '.join(map(repr, missing))}")


def read_csv(path: Path, rows: int = READ_ROWS) -> pd.DataFrame:
    """The CSV file at ``path`` with the values and types pandas gives it when it
    reads it whole (``low_memory=False``, as registration checks it), parsed
    ``rows`` rows at a time. A part infers its own types, so a column that is
    numbers in one part and text in another is read again, alone, as text:
    the whole file would make it text throughout ("7", not 7)."""
    parts = list(pd.read_csv(path, chunksize=rows, low_memory=False))
    if len(parts) <= 1:
        return parts[0] if parts else pd.read_csv(path)
    table = pd.concat(parts, ignore_index=True)
    del parts
    mixed = [name for name in table.columns if _mixed(table[name])]
    if mixed:
        text = pd.read_csv(path, usecols=mixed, dtype=str, low_memory=False)
        for name in mixed:
            table[name] = text[name]
    return table


def _mixed(values: pd.Series) -> bool:
    if values.dtype != object:
        return False
    kinds = set(values.dropna().map(type).unique())
    return not (kinds <= {str} or kinds <= {bool, np.bool_})


def repeated_records(table: pd.DataFrame) -> np.ndarray:
    """Whether each row repeats an earlier one in every column. Compared by a
    64-bit hash of the whole row: pandas' own ``duplicated`` holds a code per
    cell, gigabytes on ten million rows."""
    hashes = pd.util.hash_pandas_object(table, index=False).to_numpy()
    return pd.Series(hashes).duplicated().to_numpy()


def stratified_split(
    labels: np.ndarray, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the train and test rows (each ascending) of a table whose
    labels are ``labels``: each label puts ``test_size`` of its rows (rounded)
    in the test set; the same seed gives the same split. Written with numpy:
    importing scikit-learn for this would double the step's start-up time."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        shuffled = rng.permutation(np.flatnonzero(labels == value))
        is_test[shuffled[: round(len(shuffled) * test_size)]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def random_split(labels: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the train and test rows (each ascending) of a table of
    ``len(labels)`` rows: ``test_size`` of them (rounded) at random in the test
    set, whatever their labels; the same seed gives the same split."""
    shuffled = np.random.default_rng(seed).permutation(len(labels))
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[shuffled[: round(len(labels) * test_size)]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def prepare(
    raw: pd.DataFrame, roles: ColumnRoles, *, test_size: float = 0.2, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Clean and split ``raw``; returns (train, test, summary). Raises ValueError
    naming what is wrong (a missing column, a target the kind cannot take)."""
    kind = KINDS[roles.kind]
    target, sensitive = roles.target_column, roles.sensitive_column
    columns = [*roles.features, *([sensitive] if sensitive else []), target]
    check_columns(raw, columns)
    rows_in = len(raw)
    # Duplicates are whole records repeated; rows that merely agree on the
    # selected columns are different people and stay.
    kept = np.flatnonzero(~repeated_records(raw) & raw[target].notna().to_numpy())
    codes, labels = kind.encode(raw[target].iloc[kept], roles)
    # Counted before the split: a gap only in the test rows is still a gap the
    # model must take (the deploy's smoke test sends those rows).
    gaps = [name for name in roles.features if raw[name].iloc[kept].isna().any()]
    split = stratified_split if kind.stratified else random_split
    train_rows, test_rows = split(codes, test_size, seed)
    # Each split is taken from ``raw`` by position, so the data is never held
    # more than twice; ``raw`` is passed in without being kept by the caller.
    where = raw.columns.get_indexer(columns)
    splits = []
    for rows in (train_rows, test_rows):
        part = normalize_features(raw.iloc[kept[rows], where], roles.features)
        part[target] = codes[rows]  # a frame of its own: changed in place, not copied
        part.index = pd.RangeIndex(len(part))  # reset_index would copy the data
        splits.append(part)
    del raw
    summary = {
        "rows_in": rows_in,
        "rows_dropped": rows_in - len(kept),
        "rows_train": len(train_rows),
        "rows_test": len(test_rows),
        "features": len(roles.features),
        "labels": {str(code): label for code, label in enumerate(labels)},
        "gaps": gaps,
        **kind.describe_target(codes, labels),
    }
    return splits[0], splits[1], summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-data", required=True, type=Path)
    parser.add_argument("--columns", required=True, type=Path, help="the column roles (JSON)")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--train-data", required=True, type=Path)
    parser.add_argument("--test-data", required=True, type=Path)
    args = parser.parse_args(argv)

    try:
        roles = read_roles(args.columns)
    except (OSError, ValueError) as error:
        return fail(str(error))
    try:
        train, test, summary = prepare(
            read_csv(args.raw_data),
            roles,
            test_size=args.test_size,
            seed=args.seed,
        )
    except (OSError, ValueError) as error:
        return fail(f"{args.raw_data}: {error}")
    train.to_parquet(output_file(args.train_data, DATA_FILE), index=False)
    test.to_parquet(output_file(args.test_data, DATA_FILE), index=False)
    seen = json.dumps({"labels": summary["labels"], "gaps": summary["gaps"]}, ensure_ascii=False)
    output_file(args.train_data, SPLIT_FILE).write_text(seen, encoding="utf-8")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
