"""``mlops endpoint replay``: the serving model's own test split (for a version
promoted from another environment: its baseline's training rows) sent through
the endpoint, some features shifted if asked, so that monitoring has traffic
to judge (a demo of drift, or a rehearsal of a threshold).

A shift is ``COLUMN*NUMBER``, ``COLUMN+NUMBER``, ``COLUMN-NUMBER`` (number
columns) or ``COLUMN=VALUE`` (any column: every row gets VALUE, read as a
number where the column holds numbers). The rows go through the traffic map
in requests of ``BATCH`` rows, as a caller sends them; ``replay`` returns
once every request was answered and, where the deployment collects every
request and the target writes what it collects at once (locally; Azure's
collector lands its files minutes later), once its collection holds them
all (bounded by ``COLLECT_WAIT``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from mlops.errors import UserError
from mlops.monitoring.collected import read_collection
from mlops.monitoring.monitor import INPUTS, serving_model
from mlops.monitoring.training_data import baseline_of, training_run, training_split
from mlops.runs import TEST_DATA_OUTPUT
from mlops.settings import Settings
from mlops.targets.base import ADOPTED_TAG

BATCH = 50
COLLECT_WAIT = 30.0  # seconds: the collector sends from a thread of its own
_SHIFT = re.compile(r"(?P<column>.+?)(?P<op>[*+=-])(?P<value>[^*+=]*)")


@dataclass(frozen=True)
class Shift:
    column: str
    op: str  # one of * + - =
    value: str

    @classmethod
    def parse(cls, text: str) -> Shift:
        found = _SHIFT.fullmatch(text)
        if found is None or not found["value"]:
            raise UserError(
                f"--shift {text!r}: write COLUMN*NUMBER, COLUMN+NUMBER, COLUMN-NUMBER or "
                "COLUMN=VALUE (LIMIT_BAL*3, AGE+15)"
            )
        return cls(found["column"], found["op"], found["value"])

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"

    def apply(self, column: pd.Series) -> pd.Series:
        numbers = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if self.op == "=":
            value = _number(self, self.value) if numbers else self.value
            return pd.Series(value, index=column.index)
        if not numbers:
            raise UserError(
                f"--shift {self}: {self.column} holds no numbers; set a value instead "
                f"({self.column}=VALUE)"
            )
        amount = _number(self, self.value)
        changed = {"*": column * amount, "+": column + amount, "-": column - amount}[self.op]
        # An integer column stays one (a count, an age), as a caller would send it.
        if pd.api.types.is_integer_dtype(column):
            return changed.round().astype(column.dtype)
        return changed


def _number(shift: Shift, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"--shift {shift}: {text!r} is not a number") from None


@dataclass(frozen=True)
class Replayed:
    model: str  # name:version of the serving model
    deployment: str
    rows: int
    since: str  # the second the first request went out, YYYY-MM-DDTHH:MM:SSZ
    collected: int | None  # rows the collection holds since then (None: not waited for)
    split: str = "test"  # whose rows: the model's "test" split, or its baseline's "training"


def replay(
    target,
    settings: Settings,
    shifts: Sequence[Shift],
    rows: int | None,
) -> Replayed:
    """Send the serving model's test split (its first ``rows``), with ``shifts``
    applied, through the endpoint; see the module docstring."""
    serving, model = serving_model(target, settings, "run `mlops run` first")
    table, split = _rows_to_send(target, settings, model)
    if rows is not None:
        table = table.head(rows)
    for shift in shifts:
        if shift.column not in table.columns:
            raise UserError(
                f"--shift {shift}: the model has no feature {shift.column!r}; its features are "
                + ", ".join(table.columns)
            )
        table[shift.column] = shift.apply(table[shift.column])
    # Collected records say their time to the second: start on a fresh one.
    started = datetime.now(UTC).replace(microsecond=0)
    while datetime.now(UTC).replace(microsecond=0) == started:
        time.sleep(0.02)
    since = datetime.now(UTC).replace(microsecond=0)
    for start in range(0, len(table), BATCH):
        part = table.iloc[start : start + BATCH]
        data = json.loads(part.to_json(orient="split", index=False))
        body = {"input_data": {"columns": data["columns"], "data": data["data"]}}
        status, answer = target.invoke(json.dumps(body).encode())
        if status != 200:
            raise UserError(
                f"the endpoint answered {status} to rows {start}..{start + len(part) - 1}: "
                + answer.decode(errors="replace")[:300]
            )
    collected = None
    if settings.monitor.sampling_rate >= 1.0 and target.monitoring.collects_at_once:
        collected = _wait_collected(target, serving.name, since, len(table))
    return Replayed(model.ref, serving.name, len(table), _iso(since), collected, split)


def _rows_to_send(target, settings: Settings, model) -> tuple[pd.DataFrame, str]:
    """(the rows, whose): ``model``'s test split where this environment holds its
    training run; for a version promoted from another, its baseline's training rows."""
    if model.tags.get(ADOPTED_TAG):
        return baseline_of(target, settings, model).features.copy(), "training"
    run = training_run(target, model)
    return training_split(target, settings, model, run, TEST_DATA_OUTPUT), "test"


def _wait_collected(target, deployment: str, since: datetime, rows: int) -> int:
    """The rows collected since ``since``, once they are ``rows`` (or after ``COLLECT_WAIT``)."""
    folder = target.monitoring.collected_folder(deployment, since, datetime.now(UTC) + _SECOND)
    deadline = time.monotonic() + COLLECT_WAIT
    while True:
        held = len(read_collection(folder, INPUTS, since, datetime.now(UTC) + _SECOND).rows)
        if held >= rows or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


_SECOND = timedelta(seconds=1)  # the window's end: past the second now


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
