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
    rows: list[dict] = []
    times: list[tuple[datetime, int]] = []  # per call: its time, its number of rows
    joins: list[str | None] = []  # per call
    expected = set(columns) if columns is not None else None
    for path in files:
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
    frame = pd.DataFrame.from_records(rows, columns=list(columns) if columns else None)
    counts = [count for _, count in times]
    stamps = pd.to_datetime([when for when, _ in times], utc=True)
    frame[CALL_TIME] = stamps.repeat(counts) if times else pd.Series(dtype="object")
    frame[CORRELATION] = np.repeat(np.array(joins, dtype=object), counts) if times else []
    result.rows = frame
    return result


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
