"""Prepare step: clean the raw table and split it into train and test sets.

Reads one CSV file and the column roles (``--columns``, see contract.py),
drops exact duplicate records and rows without a target, keeps the feature
columns plus the target and the sensitive column (if any), stores each
feature in the type of its kind (numbers, booleans, text; gaps stay gaps),
maps the target to 0/1 and writes a stratified, seeded split as Parquet:
``<train_data>/data.parquet`` and ``<test_data>/data.parquet``, and in
``<train_data>/split.json`` what the 0/1 codes stand for and which features
have gaps. The raw file
is never modified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from contract import ColumnRoles, encode_target, normalize_features, read_roles

from common import SPLIT_FILE, fail, output_file

DATA_FILE = "data.parquet"


def check_columns(table: pd.DataFrame, names: list[str]) -> None:
    """Raise ValueError naming the columns of ``names`` that ``table`` lacks."""
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise ValueError(f"columns not in the data: {', '.join(map(repr, missing))}")


def repeated_records(table: pd.DataFrame) -> np.ndarray:
    """Whether each row repeats an earlier one in every column. Compared by a
    64-bit hash of the whole row: pandas' own ``duplicated`` holds a code per
    cell, gigabytes on ten million rows."""
    hashes = pd.util.hash_pandas_object(table, index=False).to_numpy()
    return pd.Series(hashes).duplicated().to_numpy()


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
    raw: pd.DataFrame, roles: ColumnRoles, *, test_size: float = 0.2, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Clean and split ``raw``; returns (train, test, summary)."""
    target, sensitive = roles.target_column, roles.sensitive_column
    columns = [*roles.features, *([sensitive] if sensitive else []), target]
    check_columns(raw, columns)
    rows_in = len(raw)
    # Duplicates are whole records repeated; rows that merely agree on the
    # selected columns are different people and stay.
    keep = ~repeated_records(raw) & raw[target].notna().to_numpy()
    table = normalize_features(raw.loc[keep, columns], roles.features)
    del raw  # passed in without being kept by the caller: one copy at a time
    codes, labels = encode_target(table[target], roles.positive_class)
    table[target] = codes
    train, test = stratified_split(table, target, test_size, seed)
    summary = {
        "rows_in": rows_in,
        "rows_dropped": rows_in - len(table),
        "rows_train": len(train),
        "rows_test": len(test),
        "features": len(roles.features),
        "labels": {"0": labels[0], "1": labels[1]},
        # Counted before the split: a gap only in the test rows is still a gap
        # the model must take (the deploy's smoke test sends those rows).
        "gaps": [name for name in roles.features if table[name].isna().any()],
        "positive_rate": float(codes.mean()),
    }
    return train.reset_index(drop=True), test.reset_index(drop=True), summary


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
            pd.read_csv(args.raw_data, low_memory=False),
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
