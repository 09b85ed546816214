"""What the data checks need to know of a CSV file, read in chunks.

``read_stats(path, target=..., counted=...)`` reads the file in chunks of
about ``CHUNK_CELLS`` cells and returns a ``TableStats``: the rows, and per
column a ``ColumnStats`` (empty cells, infinite numbers, distinct values, the
type pandas gives the column, and of a text column the cells that are not
numbers, with the first few of them). Memory does not grow with the file's length
beyond 8 bytes a row: a hash of each record, kept per value of the target
column, to count records as the prep step does once it drops repeated ones.

The answers are those of reading the whole file at once with
``pd.read_csv(path, low_memory=False)``. pandas types each chunk on its own:
a column with gaps in one chunk only is floats there and integers elsewhere,
which the whole file reads as floats, and the statistics and hashes here
treat them as equal numbers. A column read as numbers in one chunk and as
text in another is text in the whole file, where "7" and "7.0" are two
values: such columns are read again, as text, in a second pass over the file.

Reading errors are pandas' own (``UnicodeDecodeError``, ``ParserError``,
``EmptyDataError``), for the caller to word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs 0.4 s to start

# Cells read at a time (rows times columns): about 16 MB of numbers.
CHUNK_CELLS = 2_000_000
# The widest file read: a chunk holds at least CHUNK_CELLS // MAX_COLUMNS =
# 1,000 rows, so what each column costs a chunk (a pandas Series and its
# statistics, about a tenth of a millisecond) is shared by a thousand cells
# and the time taken grows with the number of cells, not with the square of
# the number of columns. Wider than any tabular model this template trains.
MAX_COLUMNS = 2_000
# Distinct values counted exactly in a column; past it, ``count`` says "more than".
COUNT_LIMIT = 10_000
# Cells of a text column that are not numbers kept to be shown (row, value).
SHOWN_CELLS = 3

# What pandas makes of a whole column from the types it gave the column's chunks
# (see _kind), for the chunk types that can occur together: numbers with gaps
# are floats; true/false with gaps are objects; an empty chunk fits any type.
_WHOLE_FILE_TYPES = (
    ({"int"}, "int64"),
    ({"int", "float", "empty"}, "float64"),
    ({"bool"}, "bool"),
    ({"bool", "boolobj", "empty"}, "object"),
    ({"text", "empty"}, "object"),
)
# Hash of an empty cell, whatever the column's type: pandas finds empty cells equal.
_EMPTY_HASH = np.uint64(0x9E3779B97F4A7C15)
_RECORD_SEED = np.uint64(0xCBF29CE484222325)
_RECORD_PRIME = np.uint64(0x100000001B3)


@dataclass
class ColumnStats:
    """One column of the file, gathered chunk by chunk."""

    rows: int = 0
    empties: int = 0
    # Infinite numbers (inf, -inf, Infinity), counted in chunks read as floats.
    infinite: int = 0
    # Every number read as a float is whole (1.0, not 1.5).
    whole: bool = True
    # The chunks' types, see _kind.
    kinds: set[str] = field(default_factory=set)
    # Distinct values (not empty cells), up to COUNT_LIMIT and a chunk's more;
    # of text and true/false columns only, unless ``every_type``.
    distinct: set = field(default_factory=set)
    every_type: bool = False
    # In chunks read as text: the filled cells that are not numbers, and the
    # first SHOWN_CELLS of them as (row of the data, from 0; the cell).
    not_numbers: int = 0
    first_not_numbers: list[tuple[int, str]] = field(default_factory=list)

    @property
    def dtype(self) -> str | None:
        """The column's dtype when the whole file is read at once (int64, float64,
        bool or object); None when its chunks' types need it read again as text."""
        return next((dtype for kinds, dtype in _WHOLE_FILE_TYPES if self.kinds <= kinds), None)

    @property
    def numeric(self) -> bool:
        """pandas would call the whole column numeric or boolean."""
        return self.dtype in ("int64", "float64", "bool")

    @property
    def count(self) -> int | str:
        """The number of distinct values, as a message shows it."""
        if len(self.distinct) > COUNT_LIMIT:
            return f"more than {COUNT_LIMIT}"
        return len(self.distinct)

    def add(self, values: pd.Series) -> np.ndarray:
        """Count ``values``, a chunk of the column; return a hash of each cell."""
        missing = values.isna().to_numpy()
        kind = _kind(values, missing)
        if kind == "text":
            self._count_not_numbers(values, missing)
        self.rows += len(values)
        self.empties += int(missing.sum())
        self.kinds.add(kind)
        if kind == "float":
            self.infinite += int(np.isinf(values.to_numpy()).sum())
        counted = self.every_type or kind in ("text", "boolobj", "bool")
        if counted and len(self.distinct) <= COUNT_LIMIT:
            self.distinct.update(values[~missing].unique().tolist())
        hashes, whole = _cell_hashes(values, kind)
        self.whole = self.whole and bool(whole[~missing].all())
        hashes[missing] = _EMPTY_HASH
        return hashes

    def _count_not_numbers(self, values: pd.Series, missing: np.ndarray) -> None:
        """Count the filled cells of a text chunk that do not read as numbers
        (as pandas would read them in a column of numbers)."""
        import pandas as pd

        filled = np.flatnonzero(~missing)
        cells = values.to_numpy(dtype=object)[filled]
        numbers = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").notna()
        others = filled[~numbers.to_numpy()]
        self.not_numbers += len(others)
        for row in others[: SHOWN_CELLS - len(self.first_not_numbers)]:
            self.first_not_numbers.append((self.rows + int(row), str(values.iat[row])))

    def texts(self) -> dict[object, str]:
        """Each distinct value as the prep step reads it: as text, whole floats
        as integers ("1.0" is "1") and booleans as ``true`` and ``false``."""
        import pandas as pd

        values = list(self.distinct)
        if values and all(isinstance(value, bool | np.bool_) for value in values):
            return {value: "true" if value else "false" for value in values}
        series = pd.Series(values, dtype=self.dtype)
        if self.dtype == "float64" and self.whole:
            series = series.astype("int64")
        return dict(zip(values, series.astype(str), strict=True))


@dataclass
class TableStats:
    """The file: its columns and rows, each column's ColumnStats and, for each
    value of the target column, a hash of each of its records."""

    columns: tuple[str, ...]
    stats: dict[str, ColumnStats]
    target: str | None
    rows: int = 0
    # None once the target has more than ``classes`` values (no split needs them then).
    records: dict[object, list[np.ndarray]] | None = field(default_factory=dict)
    classes: int = 2

    def add(self, chunk: pd.DataFrame) -> None:
        import pandas as pd

        self.rows += len(chunk)
        record = np.full(len(chunk), _RECORD_SEED)
        for name, (_, values) in zip(self.columns, chunk.items(), strict=True):
            record ^= self.stats[name].add(values)
            record *= _RECORD_PRIME
        if self.target is None or self.records is None:
            return
        codes, uniques = pd.factorize(chunk[self.target])
        for code, value in enumerate(uniques.tolist()):
            self.records.setdefault(value, []).append(record[codes == code])
        if len(self.records) > self.classes:
            self.records = None

    def class_rows(self) -> dict[object, int]:
        """Rows of each target value (while the target has at most ``classes`` values)."""
        return {value: sum(map(len, parts)) for value, parts in (self.records or {}).items()}

    def distinct_records(self) -> dict[object, int]:
        """Rows of each target value once repeated records count once (a record
        is the whole row; two records are taken as equal when their 64-bit hashes
        are, a chance of about rows^2 / 2^65)."""
        return {
            value: _distinct(np.concatenate(parts)) for value, parts in (self.records or {}).items()
        }


def read_stats(path: Path, *, target: str, counted: set[str], classes: int = 2) -> TableStats:
    """Read the CSV file at ``path`` in chunks. ``target`` names the target
    column (it may be missing), whose records are kept by value while it has at
    most ``classes`` values (0: never, a number); the columns ``counted`` have
    their distinct values gathered whatever their type."""
    stats = _scan(path, target, counted, [], classes)
    if retyped := [name for name, column in stats.stats.items() if column.dtype is None]:
        stats = _scan(path, target, counted, retyped, classes)
    return stats


def _scan(
    path: Path, target: str, counted: set[str], as_text: list[str], classes: int
) -> TableStats:
    import pandas as pd

    columns = tuple(str(c) for c in pd.read_csv(path, nrows=0).columns)
    stats = TableStats(
        columns=columns,
        stats={c: ColumnStats(every_type=c in counted) for c in columns},
        target=target if target in columns and classes else None,
        classes=classes,
    )
    # low_memory=False: each chunk is typed as a whole, not in pieces of its own.
    with pd.read_csv(
        path,
        low_memory=False,
        chunksize=max(1, CHUNK_CELLS // len(columns)),
        dtype=dict.fromkeys(as_text, str),
    ) as reader:
        for chunk in reader:
            stats.add(chunk)
    return stats


def _kind(values: pd.Series, missing: np.ndarray) -> str:
    """The type pandas gave a chunk of a column: int, float, bool, boolobj
    (true/false with gaps), text or empty (no value at all)."""
    import pandas as pd

    if missing.all():
        return "empty"
    if values.dtype.kind in "iu":
        return "int"
    if values.dtype.kind == "f":
        return "float"
    if values.dtype.kind == "b":
        return "bool"
    return "boolobj" if pd.api.types.infer_dtype(values, skipna=True) == "boolean" else "text"


def _cell_hashes(values: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """A uint64 hash of each cell, equal for cells the whole file's column holds
    as equal values (1 in an int chunk and 1.0 in a float chunk, True in a bool
    chunk and in a boolobj chunk), and which cells are whole numbers."""
    import pandas as pd

    whole = np.ones(len(values), dtype=bool)
    if kind == "text":
        return pd.util.hash_array(values.to_numpy(dtype=object)), whole
    if kind == "float":
        numbers = values.to_numpy()
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (abs(numbers) < 2**63)
        keys = numbers.view("uint64").copy()
        keys[whole] = numbers[whole].astype("int64").view("uint64")
    elif kind == "int":
        keys = values.to_numpy().astype("int64", copy=False).view("uint64")
    elif kind in ("bool", "boolobj"):
        keys = (values == True).to_numpy(dtype="uint64")  # noqa: E712 (cells are objects)
    else:
        keys = np.zeros(len(values), dtype="uint64")
    return pd.util.hash_array(keys), whole


def _distinct(hashes: np.ndarray) -> int:
    """How many different values ``hashes`` holds (sorted in place: faster than np.unique)."""
    hashes.sort()
    return int(np.count_nonzero(hashes[1:] != hashes[:-1])) + min(len(hashes), 1)
