"""The checks of a label column, one per model kind, and what they share.

Each ``*_label(where, table, data, test_size)`` checks the target column of
``table`` (``mlops.table_stats.TableStats``, the file read in chunks) as
``data`` (the model's ``DataSettings``) names it, for a train/test split of
``test_size``, and returns a ``LabelProfile`` or raises ``DataError`` naming
the file (``where``), the column and what to do. The kinds (``mlops.kinds``)
name theirs; ``mlops.data_checks`` runs it with the checks every file gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops.errors import UserError

if TYPE_CHECKING:  # numpy at import: not for `mlops --help`
    from mlops.table_stats import ColumnStats, TableStats

# Rows of each class the split must leave on each side (see min_rows_per_class).
MIN_TEST_ROWS_PER_CLASS = 1
MIN_TRAIN_ROWS_PER_CLASS = 2


class DataError(UserError):
    """The data file cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class LabelProfile:
    """What the label column holds, as its kind reads it."""

    classes: tuple[str, ...]  # the classes as text; none for a number
    positive_rate: float | None = None  # binary: the share of the positive class


def binary_label(where: str, table: TableStats, data, test_size: float):
    """The label of a binary classifier: two values, one of them ``data.positive_class``,
    each with enough rows for the stratified split."""
    target = _check_target(where, table.stats[data.target_column], data)
    _check_class_sizes(where, table, target, data, test_size)
    wanted = label_key(data.positive_class)
    positive = sum(n for value, n in table.class_rows().items() if target[value] == wanted)
    return LabelProfile(tuple(sorted(set(target.values()))), positive / table.rows)


# A multiclass label has this many classes at least and at most.
MIN_CLASSES, MAX_CLASSES = 3, 100


def class_label(where: str, table: TableStats, data, test_size: float):
    """The label of a multiclass classifier: 3 to 100 classes (text or numbers), each
    with enough rows for the stratified split."""
    column = data.target_column
    values = table.stats[column]
    _check_filled_label(where, values, column)
    text = values.texts()
    distinct = sorted(set(text.values()))
    shown = ", ".join(distinct[:5]) + (" ..." if len(distinct) > 5 else "")
    if len(distinct) < MIN_CLASSES:
        advice = (
            "use kind: binary-classification for two classes"
            if len(distinct) == 2
            else "set data.target_column to a column of classes"
        )
        raise DataError(
            f"{where}: target column {column!r} has {len(distinct)} value"
            f"{'s' if len(distinct) != 1 else ''} ({shown}); a multiclass-classification model "
            f"needs {MIN_CLASSES} to {MAX_CLASSES} classes: {advice}"
        )
    if len(distinct) > MAX_CLASSES:
        advice = "use kind: regression" if values.numeric else "group the rarer classes together"
        raise DataError(
            f"{where}: target column {column!r} has {values.count} values, more than "
            f"{MAX_CLASSES} classes; if it is a number to predict, {advice}"
        )
    _check_class_sizes(where, table, text, data, test_size)
    return LabelProfile(tuple(distinct))


# A regression label needs this many rows at least: the test split's R^2 needs two.
MIN_NUMBER_ROWS = 10


def number_label(where: str, table: TableStats, data, test_size: float):
    """The label of a regression model: finite numbers in every row, not all the same."""
    column = data.target_column
    values = table.stats[column]
    _check_filled_label(where, values, column)
    if values.dtype == "bool" or "boolobj" in values.kinds:
        raise DataError(
            f"{where}: target column {column!r} holds true/false, not numbers; a regression "
            "label is a number: use kind: binary-classification for a yes/no label"
        )
    if not values.numeric:
        cells = ", ".join(
            f"row {row + 2}: {_shorten(cell)}" for row, cell in values.first_not_numbers
        )
        found = f" ({cells}; the header is row 1)" if cells else ""
        raise DataError(
            f"{where}: target column {column!r} holds text{found}; a regression label is a "
            "number: fix those cells, or use kind: multiclass-classification for classes"
        )
    if len(values.distinct) < 2:
        raise DataError(
            f"{where}: target column {column!r} has a single value; a regression model needs "
            "a label that varies: set data.target_column to the number to predict"
        )
    if table.rows < MIN_NUMBER_ROWS:
        raise DataError(
            f"{where}: {table.rows} rows; a regression model needs at least {MIN_NUMBER_ROWS} "
            "(its test split measures R^2 on two rows or more): add rows"
        )
    return LabelProfile(())


def _check_filled_label(where: str, values: ColumnStats, column: str) -> None:
    _check_finite(where, values, f"target column {column!r}")
    if values.empties:
        raise DataError(
            f"{where}: target column {column!r} has {values.empties} empty values; "
            "every row needs a label"
        )


def min_rows_per_class(test_size: float) -> int:
    """The fewest rows each class of the target needs so that the prep step's
    stratified split of ``test_size`` leaves at least one row of it in the test
    set and at least two in the train set.

    Why those counts: the evaluate step scores the test set with metrics such
    as AUC that need both classes in it, so one test row of each class. The
    train step needs the class too, and one train row is not enough: on more
    than 10,000 rows HistGradientBoostingClassifier holds out a stratified
    validation set for early stopping, which refuses a class with a single row.

    How the split counts: ``stratified_split`` in pipelines/src/prep.py puts
    ``round(n * test_size)`` of a class's ``n`` rows in the test set and the
    rest in the train set, and Python rounds halves to even (``round(0.5)`` is
    0, ``round(1.5)`` is 2). So the answer is found by counting as it does, not
    by a formula. As ``n`` grows by one, the test count and the train count each
    grow by zero or one (``test_size`` is below 1), so once both are enough they
    stay enough: the first ``n`` that works is the minimum. The search starts
    from bounds no rounding can beat: a test count of 1 needs ``n * test_size``
    of at least 0.5, a train count of 2 needs ``n * (1 - test_size)`` of at
    least 1.5. With ``test_size`` 0.2 the minimum is 3 (1 test row, 2 train
    rows); with 0.5 it is 4 (3 rows would put round(1.5) = 2 in the test set).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}")
    rows = max(
        MIN_TEST_ROWS_PER_CLASS + MIN_TRAIN_ROWS_PER_CLASS,
        math.floor((MIN_TEST_ROWS_PER_CLASS - 0.5) / test_size) - 1,
        math.floor((MIN_TRAIN_ROWS_PER_CLASS - 0.5) / (1 - test_size)) - 1,
    )
    while not (
        round(rows * test_size) >= MIN_TEST_ROWS_PER_CLASS
        and rows - round(rows * test_size) >= MIN_TRAIN_ROWS_PER_CLASS
    ):
        rows += 1
    return rows


def _shorten(value: object, limit: int = 40) -> str:
    """``value`` as a message quotes it, cut to about ``limit`` characters (a
    cell may hold megabytes)."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def _check_target(where: str, values: ColumnStats, data) -> dict[object, str]:
    """Check the target column; return each of its values as text."""
    column = data.target_column
    _check_filled_label(where, values, column)
    # Read as the prep step reads it (label_text in pipelines/src/contract.py):
    # whole floats are integers ("1.0" is "1"), booleans are true and false.
    text = values.texts()
    distinct = sorted(set(text.values()))
    if len(distinct) != 2:
        shown = ", ".join(distinct[:5]) + (" ..." if len(distinct) > 5 else "")
        raise DataError(
            f"{where}: target column {column!r} must have exactly two values, "
            f"found {values.count} ({shown}); set data.target_column to a binary column, "
            "or set kind: multiclass-classification (3 to 100 classes) or regression (a number)"
        )
    if label_key(data.positive_class) not in distinct:
        raise DataError(
            f"{where}: data.positive_class {data.positive_class!r} is not a value of target "
            f"column {column!r} (values: {', '.join(distinct)})"
        )
    return text


def label_key(positive_class: str) -> str:
    """``data.positive_class`` as labels are read: ``True`` is ``true``."""
    lowered = positive_class.lower()
    return lowered if lowered in ("true", "false") else positive_class


def _check_finite(where: str, values: ColumnStats, name: str) -> None:
    """Refuse infinite numbers (``inf``, ``-inf``, ``Infinity`` in the file), which
    the model cannot fit on; empty cells stay allowed where they were."""
    if values.dtype != "float64":
        return
    infinite = values.infinite
    if infinite:
        raise DataError(
            f"{where}: {name} has an infinite number (inf or -inf) in {infinite} of "
            f"{values.rows} rows; fix those values or remove those rows"
        )


def _check_class_sizes(
    where: str, table: TableStats, target: dict[object, str], data, test_size: float
) -> None:
    """Refuse a class with too few rows for the split, counted as the prep step
    counts them: it drops repeated records before it splits."""
    minimum = min_rows_per_class(test_size)
    distinct = table.distinct_records()
    counts = {target[value]: count for value, count in distinct.items()}
    repeated = sum(distinct.values()) < table.rows
    counted = " (a record repeated in the file counts once)" if repeated else ""
    column, positive = data.target_column, data.positive_class
    needs = (
        f"the split of pipeline.test_size {test_size} needs at least {minimum} rows of each "
        f"class ({MIN_TEST_ROWS_PER_CLASS} for the test set, {MIN_TRAIN_ROWS_PER_CLASS} for "
        "the train set)"
    )
    if positive is not None and counts.get(label_key(positive), 0) == 1:
        raise DataError(
            f"{where}: data.positive_class {positive!r} has a single row in target column "
            f"{column!r}{counted}; the model can neither learn that class nor be tested on it, "
            f"and {needs}: add rows of that class or check data.positive_class"
        )
    for value, count in sorted(counts.items()):
        if count < minimum:
            raise DataError(
                f"{where}: target column {column!r} has {count} rows of class {value!r}"
                f"{counted}, fewer than {minimum} rows per class for the split; {needs}: "
                "add rows of that class"
            )
