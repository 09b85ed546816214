"""Reading what a deployment collected, as Azure ML's data collector writes it.

Both targets keep the records in the same tree (on Azure under the
workspace blob store's ``modelDataCollector/``, locally under the model's
state folder), one folder per collection::

    <root>/<collection>/YYYY/MM/DD/HH/<instance>.jsonl

each line one collected call: a JSON object whose ``data`` is the list of
rows (an object per row) and whose ``time`` (``YYYY-MM-DDTHH:MM:SSZ``) says
when. ``read_collection`` returns the rows of the calls within a window,
with each row's call time and correlation id; a line it cannot use (not
JSON, no ``data`` or ``time``, rows that are not objects, columns other than
the ones expected) is counted by reason, named by file and line, and
skipped: it never stops the reading.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Columns the reader adds to every row.
CALL_TIME, CORRELATION = "_call_time", "_correlation_id"
# How many unusable lines are named in full; the rest are only counted.
NAMED = 5


@dataclass
class Collection:
    """The rows of one collection within a window, and what could not be used."""

    name: str
    rows: pd.DataFrame
    calls: int = 0
    files: int = 0
    # reason -> how many lines; the first few as "file:line: reason"
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def skipped_lines(self) -> int:
        return sum(self.skipped.values())


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def hours(since: datetime, until: datetime) -> set[str]:
    """The ``YYYY/MM/DD/HH`` folders a window [since, until) can hold records in."""
    hour, folders = since.replace(minute=0, second=0, microsecond=0), set()
    while hour < until:
        folders.add(hour.strftime("%Y/%m/%d/%H"))
        hour += timedelta(hours=1)
    return folders


def files_of(root: Path, collection: str, since: datetime, until: datetime) -> list[Path]:
    """The record files of ``collection`` under ``root`` whose hour folder meets the window."""
    folder = root / collection
    if not folder.is_dir():
        return []
    wanted = hours(since, until)
    return sorted(
        path
        for path in folder.glob("*/*/*/*/*.jsonl")
        if "/".join(path.relative_to(folder).parts[:4]) in wanted
    )


def read_collection(
    root: Path,
    collection: str,
    since: datetime,
    until: datetime,
    columns: Sequence[str] | None = None,
) -> Collection:
    """The rows ``collection`` (under ``root``) holds for calls in [since, until).

    With ``columns``, a call whose rows have other columns (another model's,
    or a schema changed since) is skipped as "columns other than the model's"."""
    files = files_of(root, collection, since, until)
    result = Collection(collection, pd.DataFrame(), files=len(files))
    expected = set(columns) if columns is not None else None
    chunks: list[pd.DataFrame] = []
    for path in files:
        chunk = _read_clean_file(path, since, until, expected)
        if chunk is None:  # a line the fast reader cannot take as the careful one would
            chunk = _read_lines(path, since, until, expected, result)
        else:
            result.calls += chunk.attrs.pop("calls")
        if len(chunk):
            chunks.append(chunk)
    names = list(columns) if columns is not None else _first_seen(chunks)
    empty = pd.DataFrame(columns=[*names, CALL_TIME, CORRELATION])
    frame = pd.concat(chunks, ignore_index=True) if chunks else empty
    result.rows = frame.reindex(columns=[*names, CALL_TIME, CORRELATION])
    return result


def _first_seen(chunks: list[pd.DataFrame]) -> list[str]:
    names: dict[str, None] = {}
    for chunk in chunks:
        names.update(dict.fromkeys(c for c in chunk.columns if c not in (CALL_TIME, CORRELATION)))
    return list(names)


def _read_lines(path, since, until, expected, result: Collection) -> pd.DataFrame:
    """The rows of the calls of ``path`` in the window, line by line; what cannot
    be used is counted and named in ``result``."""
    rows: list[dict] = []
    times: list[tuple[datetime, int]] = []  # per call: its time, its number of rows
    joins: list[str | None] = []  # per call
    for number, line in enumerate(_lines(path), start=1):
        reason = _read_call(line, since, until, expected, rows, times, joins)
        if reason is OUTSIDE:
            continue
        if reason is None:
            result.calls += 1
            continue
        result.skipped[reason] += 1
        if len(result.examples) < NAMED:
            result.examples.append(f"{path}:{number}: {reason}")
    frame = pd.DataFrame.from_records(rows, columns=sorted(expected) if expected else None)
    counts = [count for _, count in times]
    stamps = pd.to_datetime([when for when, _ in times], utc=True)
    frame[CALL_TIME] = stamps.repeat(counts) if times else pd.Series(dtype="object")
    frame[CORRELATION] = np.repeat(np.array(joins, dtype=object), counts) if times else []
    return frame


def _read_clean_file(path, since, until, expected) -> pd.DataFrame | None:
    """The rows of ``path`` read whole by pyarrow's JSON reader (C++), when the
    file is one the line-by-line reader would take every line of in the same
    way: every line a call with a time and a list of rows, every row with the
    same flat cells (no gap, which could be a missing key), of ``expected``'s
    names; else None. Its ``attrs["calls"]`` is how many calls were in the window."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    # The time as text, checked against TIME_FORMAT below, as the line reader does.
    parse = pj.ParseOptions(explicit_schema=pa.schema([("time", pa.string())]))
    try:
        table = pj.read_json(path, parse_options=parse)
    except (pa.ArrowInvalid, OSError):
        return None
    names = table.schema.names
    if "time" not in names or "data" not in names or table["time"].null_count:
        return None
    data_type = table.schema.field("data").type
    if not pa.types.is_list(data_type) or not pa.types.is_struct(data_type.value_type):
        return None
    cells = data_type.value_type
    flat = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_boolean)
    if not all(any(kind(field.type) for kind in flat) for field in cells):
        return None  # nested, null-only or text read as a timestamp: as the lines say
    if expected is not None and {field.name for field in cells} != expected:
        return None
    try:
        stamps = pc.strptime(table["time"], format=TIME_FORMAT, unit="s", error_is_null=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    stamps = pc.assume_timezone(stamps, "UTC") if stamps.type.tz is None else stamps
    inside = pc.and_(pc.greater_equal(stamps, pa.scalar(since)), pc.less(stamps, pa.scalar(until)))
    table = table.filter(inside).append_column("_stamp", stamps.filter(inside))
    data = table["data"].combine_chunks()
    if data.null_count:
        return None
    rows = data.flatten()
    if any(rows.field(i).null_count for i in range(rows.type.num_fields)) or rows.null_count:
        return None
    counts = pc.list_value_length(data).to_numpy(zero_copy_only=False)
    frame = pd.DataFrame(
        {field.name: rows.field(i).to_numpy(zero_copy_only=False)
         for i, field in enumerate(rows.type)}
    )  # fmt: skip
    when = pd.DatetimeIndex(table["_stamp"].to_pandas()).as_unit("ns")
    frame[CALL_TIME] = when.repeat(counts)
    joins = table["correlationid"].to_pylist() if "correlationid" in names else [None] * len(data)
    frame[CORRELATION] = np.repeat(np.array(joins, dtype=object), counts)
    frame.attrs["calls"] = len(data)
    return frame


OUTSIDE = "outside the window"


def _lines(path: Path) -> Iterable[bytes]:
    with path.open("rb") as handle:
        yield from handle


def _read_call(line, since, until, expected, rows, times, joins) -> str | None:
    """Add the rows of the call on ``line``; None, ``OUTSIDE``, or why it was not used."""
    try:
        record = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    try:
        when = parse_time(record["time"])
    except (KeyError, TypeError, ValueError):
        return "no time in YYYY-MM-DDTHH:MM:SSZ"
    if not since <= when < until:
        return OUTSIDE
    data = record.get("data")
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        return "data is not a list of rows"
    if expected is not None and any(row.keys() != expected for row in data):
        return "columns other than the model's"
    rows.extend(data)
    times.append((when, len(data)))
    joins.append(record.get("correlationid"))
    return None
