"""Checks a raw CSV file against the data settings before it is registered.

``check_table(path, data)`` returns a ``TableProfile`` or raises
``DataError`` naming the file, the column and the settings key to change.
It reads the file once and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlops.errors import UserError
from mlops.settings import DataSettings

# HistGradientBoosting bins a categorical column into at most 255 categories.
MAX_CATEGORIES = 255


class DataError(UserError):
    """The data file cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class TableProfile:
    rows: int
    columns: tuple[str, ...]
    features: tuple[str, ...]
    positive_rate: float


def feature_columns(columns: list[str] | tuple[str, ...], data: DataSettings) -> tuple[str, ...]:
    """The model's features: ``features.include`` (or every column) less
    ``features.exclude``, the target and the sensitive column, in file order."""
    chosen = set(data.features.include or columns)
    dropped = {data.target_column, data.sensitive_column, *data.features.exclude}
    return tuple(c for c in columns if c in chosen and c not in dropped)


def check_table(path: Path, data: DataSettings) -> TableProfile:
    """Validate the CSV file at ``path`` for the columns and target in ``data``."""
    table = _read_csv(path)
    columns = [str(c) for c in table.columns]
    require_columns(columns, data, where=path)
    features = feature_columns(columns, data)
    if not features:
        raise DataError(f"{path}: no feature columns left; check data.features in mlops.yml")
    target = _check_target(path, table[data.target_column], data)
    _check_sensitive(path, table[data.sensitive_column], data.sensitive_column)
    for column in features:
        _check_feature(path, table[column], column)
    return TableProfile(
        rows=len(table),
        columns=tuple(columns),
        features=features,
        positive_rate=float((target == data.positive_class).mean()),
    )


def require_file(path: Path) -> None:
    """Raise DataError when ``path`` is not an existing file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; check data.path in mlops.yml")


def _read_csv(path: Path) -> pd.DataFrame:
    require_file(path)
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: expected a .csv file, got {path.suffix or 'no extension'!r}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        table = pd.read_csv(path, low_memory=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{path}: not a readable CSV file ({reason})") from None
    if table.empty:
        raise DataError(f"{path}: the file has a header but no rows")
    return table


def require_columns(
    columns: list[str] | tuple[str, ...], data: DataSettings, where: object
) -> None:
    """Raise DataError when a column the settings name is not in ``columns``
    (the columns of ``where``, a file or a data asset)."""
    wanted = {
        "data.target_column": [data.target_column],
        "data.sensitive_column": [data.sensitive_column],
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


def _check_target(path: Path, values: pd.Series, data: DataSettings) -> pd.Series:
    column = data.target_column
    if values.isna().any():
        raise DataError(
            f"{path}: target column {column!r} has {int(values.isna().sum())} empty values; "
            "every row needs a label"
        )
    # Read as the prep step reads it: whole floats are integers ("1.0" is "1").
    text = values.astype("int64").astype(str) if _whole_floats(values) else values.astype(str)
    distinct = sorted(text.unique())
    if len(distinct) != 2:
        shown = ", ".join(distinct[:5]) + (" ..." if len(distinct) > 5 else "")
        raise DataError(
            f"{path}: target column {column!r} must have exactly two values, "
            f"found {len(distinct)} ({shown}); set data.target_column to a binary column"
        )
    if data.positive_class not in distinct:
        raise DataError(
            f"{path}: data.positive_class {data.positive_class!r} is not a value of target "
            f"column {column!r} (values: {', '.join(distinct)})"
        )
    return text


def _whole_floats(values: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(values) and bool((values == values.round()).all())


def _check_sensitive(path: Path, values: pd.Series, column: str) -> None:
    if values.isna().any():
        raise DataError(
            f"{path}: sensitive column {column!r} has {int(values.isna().sum())} empty values; "
            "fairness metrics need a group for every row"
        )
    if values.nunique() < 2:
        raise DataError(
            f"{path}: sensitive column {column!r} has a single group; "
            "set data.sensitive_column to a column with two or more groups"
        )


def _check_feature(path: Path, values: pd.Series, column: str) -> None:
    if values.isna().all():
        raise DataError(
            f"{path}: feature column {column!r} is empty; add it to data.features.exclude"
        )
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return
    categories = values.nunique()
    if categories > MAX_CATEGORIES:
        raise DataError(
            f"{path}: feature column {column!r} holds text with {categories} distinct values "
            f"(at most {MAX_CATEGORIES} for a categorical feature); fix its type in the file "
            "or add it to data.features.exclude"
        )
