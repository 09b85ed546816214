"""Checks a raw CSV file against the data settings before it is registered.

``check_table(path, data, test_size=..., name=...)`` returns a ``TableProfile``
or raises ``DataError`` naming the file (as the user named it: ``name``, such
as ``data.path: data/x.csv``, when ``path`` is a copy of it), the column and
the settings key to change. It reads the header line first and alone (see
mlops.csv_header: time linear in its length, memory bounded), then the file
in chunks (see mlops.table_stats: memory does not grow with the file's
length, the answers are those of reading it whole), and writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.csv_header import HeaderTooLong, read_header
from mlops.label_checks import (
    DataError,
    LabelProfile,
    _check_finite,
    _shorten,
    binary_label,
    label_key,
    min_rows_per_class,
)
from mlops.table_stats import MAX_COLUMNS, ColumnStats, TableStats, read_stats

if TYPE_CHECKING:
    from mlops.settings import DataSettings

__all__ = ["DataError", "LabelProfile", "check_table", "label_key", "min_rows_per_class"]

# HistGradientBoosting bins a categorical column into at most 255 categories.
MAX_CATEGORIES = 255
# A feature column whose filled cells are numbers in at least this share, but
# not all, is taken as a column of numbers with mistakes in it, not as text:
# pandas (and so the prep step) would read all of it as text, a category per
# distinct number. Below it, the column is text (categories) as the file has it.
MOSTLY_NUMBERS = 0.95


@dataclass(frozen=True)
class TableProfile:
    rows: int
    columns: tuple[str, ...]
    features: tuple[str, ...]
    positive_rate: float | None
    classes: tuple[str, ...]


def feature_columns(columns: list[str] | tuple[str, ...], data: DataSettings) -> tuple[str, ...]:
    """The model's features: ``features.include`` (or every column) less
    ``features.exclude``, the target and the sensitive column, in file order."""
    chosen = set(data.features.include or columns)
    dropped = {data.target_column, data.sensitive_column, *data.features.exclude} - {None}
    return tuple(c for c in columns if c in chosen and c not in dropped)


def check_table(
    path: Path,
    data: DataSettings,
    kind=None,
    *,
    test_size: float = 0.2,
    name: str | None = None,
) -> TableProfile:
    """Validate the CSV file at ``path`` for the columns and target in ``data``, the
    label as model kind ``kind`` needs it (an ``mlops.kinds.Kind``; None: a binary
    classifier's), and for the train/test split of ``test_size``
    (``pipeline.test_size``). Messages start with ``name`` (default: ``path``)."""
    where = name or str(path)
    check_label = kind.check_label if kind is not None else binary_label
    table = _read_csv(path, data, where, kind.max_classes if kind is not None else 2)
    columns = table.columns
    require_columns(columns, data, where=where)
    features = feature_columns(columns, data)
    if not features:
        raise DataError(f"{where}: no feature columns left; check data.features in mlops.yml")
    label = check_label(where, table, data, test_size)
    if data.sensitive_column is not None:
        _check_sensitive(where, table.stats[data.sensitive_column], data.sensitive_column)
    for column in features:
        _check_feature(where, table.stats[column], column)
    return TableProfile(
        rows=table.rows,
        columns=columns,
        features=features,
        positive_rate=label.positive_rate,
        classes=label.classes,
    )


def checked_with(data: DataSettings, test_size: float) -> str:
    """What the checks of ``check_table`` depend on besides the bytes, as a short
    digest: the column settings and the split. A registered version records the
    digest it was checked with; the same bytes under other settings are checked
    again (a target column of seven values is refused whether its file is new or
    registered under a binary one)."""
    settings = {**data.model_dump(mode="json", exclude={"asset_name", "path"})}
    text = json.dumps({"data": settings, "test_size": test_size}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_path(data: DataSettings) -> str:
    """How messages name the data file: as the settings key and value name it."""
    return f"data.path: {data.path}"


def require_file(path: Path, name: str | None = None) -> None:
    """Raise DataError when ``path`` is not an existing file; the message starts
    with ``name`` (default: ``path``)."""
    if not path.is_file():
        raise DataError(f"{name or path}: file not found; check data.path in the model's mlops.yml")


def _read_csv(path: Path, data: DataSettings, where: str, classes: int) -> TableStats:
    import pandas as pd

    require_file(path, where)
    if path.suffix.lower() != ".csv":
        raise DataError(f"{where}: expected a .csv file, got {path.suffix or 'no extension'!r}")
    if path.stat().st_size == 0:
        raise DataError(f"{where}: the file is empty")
    try:
        _check_header(where, _header(path, where))
        table = read_stats(
            path,
            target=data.target_column,
            counted={data.target_column, data.sensitive_column} - {None},
            classes=classes,
        )
    except (
        UnicodeDecodeError,
        csv.Error,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{where}: not a readable CSV file ({reason})") from None
    if table.rows == 0:
        raise DataError(f"{where}: the file has a header but no rows")
    return table


def _header(path: Path, where: str) -> list[str]:
    """The names of the header line as written (see mlops.csv_header); a line
    too long to read counts as too wide when the names read by then are."""
    try:
        return read_header(path)
    except HeaderTooLong as error:
        if len(error.names) > MAX_COLUMNS:
            return error.names
        raise DataError(f"{where}: {error}; shorten the column names in it") from None


def _check_header(where: str, names: list[str]) -> None:
    """Refuse a header wider than ``MAX_COLUMNS``, one with a name no step could
    be told about, and one that names a column twice. pandas renames the second
    ``x`` to ``x.1`` and a blank name to ``Unnamed: <position>``, so the names
    are those of the header line as written. Each check takes time linear in
    the number of names, so that even a refusal of a 100,000-column header is
    quick."""
    if len(names) > MAX_COLUMNS:
        raise DataError(
            f"{where}: the header names {len(names):,} columns, more than the {MAX_COLUMNS:,} "
            "a data file may have; keep in the file only the columns the model may use"
        )
    _check_names(where, names)
    seen = Counter(names)
    repeated = [name for name, count in seen.items() if count > 1]
    if repeated:
        shown = ", ".join(f"{name!r} ({seen[name]} times)" for name in repeated[:5])
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise DataError(
            f"{where}: the header repeats column {shown}{more}; rename or remove the repeated "
            "columns so that each column has its own name"
        )


def _check_names(where: str, names: list[str]) -> None:
    """Refuse names no step could be told about: a blank one (pandas would call
    it ``Unnamed: <n>``) and one with a line break or another control character.
    Any other text is a valid name (spaces, commas, quotes, ``$``, any script):
    the steps get the names in a JSON file, never on a command line."""
    for number, name in enumerate(names, start=1):
        if not name.strip():
            raise DataError(
                f"{where}: column {number} of the header has no name; give it one in the "
                "header line"
            )
        if any(ord(char) < 32 or ord(char) == 127 for char in name):
            raise DataError(
                f"{where}: column {number} of the header, {_shorten(name)}, holds a line break "
                "or another control character; rename it in the header line"
            )


def require_columns(
    columns: list[str] | tuple[str, ...], data: DataSettings, where: object
) -> None:
    """Raise DataError when a column the settings name is not in ``columns``
    (the columns of ``where``, a file or a data asset)."""
    wanted = {
        "data.target_column": [data.target_column],
        "data.sensitive_column": [data.sensitive_column] if data.sensitive_column else [],
        "data.features.include": list(data.features.include),
        "data.features.exclude": list(data.features.exclude),
    }
    for key, names in wanted.items():
        missing = [name for name in names if name not in columns]
        if missing:
            shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
            raise DataError(
                f"{where}: column {', '.join(map(repr, missing))} named by {key} is not in "
                f"the data (columns: {shown})"
            )


def _check_sensitive(where: str, values: ColumnStats, column: str) -> None:
    _check_finite(where, values, f"sensitive column {column!r}")
    if values.empties:
        raise DataError(
            f"{where}: sensitive column {column!r} has {values.empties} empty values; "
            "fairness metrics need a group for every row"
        )
    if len(values.distinct) < 2:
        raise DataError(
            f"{where}: sensitive column {column!r} has a single group; "
            "set data.sensitive_column to a column with two or more groups"
        )


def _check_feature(where: str, values: ColumnStats, column: str) -> None:
    if values.empties == values.rows:
        raise DataError(
            f"{where}: feature column {column!r} is empty; add it to data.features.exclude"
        )
    if values.numeric:
        _check_finite(where, values, f"feature column {column!r}")
        return
    _check_mostly_numbers(where, values, column)
    categories = values.count
    if len(values.distinct) > MAX_CATEGORIES:
        raise DataError(
            f"{where}: feature column {column!r} holds text with {categories} distinct values "
            f"(at most {MAX_CATEGORIES} for a categorical feature); fix its type in the file "
            "or add it to data.features.exclude"
        )


def _check_mostly_numbers(where: str, values: ColumnStats, column: str) -> None:
    """Refuse a text column that is numbers but for a few cells (see MOSTLY_NUMBERS),
    naming the first of those by their row in the file (the header is row 1)."""
    filled = values.rows - values.empties
    others = values.not_numbers
    if not others or filled - others < MOSTLY_NUMBERS * filled:
        return
    shown = ", ".join(f"row {row + 2}: {_shorten(cell)}" for row, cell in values.first_not_numbers)
    more = ", ..." if others > len(values.first_not_numbers) else ""
    raise DataError(
        f"{where}: feature column {column!r} holds numbers but for {others:,} of its "
        f"{filled:,} filled cells ({shown}{more}; the header is row 1), which would make it "
        "a text column; fix those cells or empty them (empty cells are allowed), or add "
        "the column to data.features.exclude"
    )
