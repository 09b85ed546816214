"""Reading collected records: the window, the model's columns, and lines that cannot be used."""

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from mlops.monitoring.collected import CALL_TIME, CORRELATION, read_collection

SINCE = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
UNTIL = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def record(time: str, rows, correlation="c-1") -> str:
    return json.dumps({"type": "azureml.inference.model_inputs", "time": time,
                       "data": rows, "correlationid": correlation})  # fmt: skip


def write(root, hour: str, *lines: str) -> None:
    path = root / "model_inputs" / hour / "instance.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_the_rows_of_the_calls_in_the_window_are_read_with_their_time_and_call(tmp_path):
    write(tmp_path, "2026/12/03/09", record("2026-12-03T09:59:59Z", [{"AGE": 1, "CITY": "x"}]))
    write(
        tmp_path,
        "2026/12/03/10",
        record("2026-12-03T10:00:00Z", [{"AGE": 35, "CITY": "Paris"}, {"AGE": 52, "CITY": None}]),
        record("2026-12-03T10:30:00Z", [{"CITY": "Lyon", "AGE": 41}], correlation="c-2"),
    )
    write(tmp_path, "2026/12/03/12", record("2026-12-03T12:00:00Z", [{"AGE": 9, "CITY": "y"}]))

    read = read_collection(tmp_path, "model_inputs", SINCE, UNTIL, columns=["AGE", "CITY"])

    assert read.calls == 2 and read.files == 1 and read.skipped_lines == 0
    assert read.rows[["AGE", "CITY"]].to_dict("records") == [
        {"AGE": 35, "CITY": "Paris"},
        {"AGE": 52, "CITY": None},
        {"AGE": 41, "CITY": "Lyon"},
    ]
    assert read.rows[CORRELATION].tolist() == ["c-1", "c-1", "c-2"]
    assert str(read.rows[CALL_TIME].iloc[2]) == "2026-12-03 10:30:00+00:00"


def test_lines_that_cannot_be_used_are_counted_named_and_skipped(tmp_path):
    good = record("2026-12-03T10:05:00Z", [{"AGE": 35, "CITY": "Paris"}])
    write(
        tmp_path,
        "2026/12/03/10",
        "{truncated",
        record("yesterday", [{"AGE": 1, "CITY": "x"}]),
        record("2026-12-03T10:06:00Z", {"AGE": 1}),
        record("2026-12-03T10:07:00Z", [{"AGE": 1, "INCOME": 3}]),
        good,
    )

    read = read_collection(tmp_path, "model_inputs", SINCE, UNTIL, columns=["AGE", "CITY"])

    assert read.calls == 1 and len(read.rows) == 1
    assert dict(read.skipped) == {
        "not JSON": 1,
        "no time in YYYY-MM-DDTHH:MM:SSZ": 1,
        "data is not a list of rows": 1,
        "columns other than the model's": 1,
    }
    assert read.examples[0].endswith("instance.jsonl:1: not JSON")


def test_nothing_collected_is_an_empty_collection(tmp_path):
    read = read_collection(tmp_path, "model_inputs", SINCE, UNTIL, columns=["AGE"])
    assert (read.calls, read.files, len(read.rows)) == (0, 0, 0)


def clean_file(root) -> None:
    calls = [
        record("2026-12-03T09:59:59Z", [{"AGE": 1, "RATE": 0.5, "CITY": "x", "OK": True}]),
        record(
            "2026-12-03T10:00:00Z",
            [{"AGE": 35, "RATE": 1.25, "CITY": "Paris", "OK": False},
             {"AGE": 52, "RATE": -2.0, "CITY": "Lyon", "OK": True}],
        ),
        record("2026-12-03T11:59:59Z", [{"CITY": "Nice", "AGE": 7, "OK": True, "RATE": 3.0}],
               correlation="c-2"),
        record("2026-12-03T12:00:00Z", [{"AGE": 9, "RATE": 0.0, "CITY": "y", "OK": False}]),
    ]  # fmt: skip
    write(root, "2026/12/03/10", *calls)


COLUMNS = ["AGE", "RATE", "CITY", "OK"]


def read_both(root, monkeypatch, columns=COLUMNS):
    """What the reader returns, and what it returns reading every file line by line."""
    from mlops.monitoring import collected

    fast = read_collection(root, "model_inputs", SINCE, UNTIL, columns=columns)
    with monkeypatch.context() as patch:
        patch.setattr(collected, "_read_clean_file", lambda *args: None)
        slow = read_collection(root, "model_inputs", SINCE, UNTIL, columns=columns)
    return fast, slow


def test_a_clean_file_is_read_whole_to_what_the_line_reader_makes_of_it(tmp_path, monkeypatch):
    from mlops.monitoring.collected import _read_clean_file

    clean_file(tmp_path)
    (path,) = tmp_path.rglob("*.jsonl")
    assert _read_clean_file(path, SINCE, UNTIL, set(COLUMNS)) is not None

    for columns in (COLUMNS, None):
        fast, slow = read_both(tmp_path, monkeypatch, columns)
        assert fast.calls == slow.calls == 2
        pd.testing.assert_frame_equal(fast.rows, slow.rows)
    assert fast.rows["CITY"].tolist() == ["Paris", "Lyon", "Nice"]


@pytest.mark.parametrize(
    "line",
    [
        record("2026-12-03T10:10:00Z", [{"AGE": None, "RATE": 1.0, "CITY": "a", "OK": True}]),
        record("2026-12-03T10:10:00Z", [{"AGE": 3, "CITY": "a", "OK": True}]),  # a key missing
        record("2026-12-03T10:10:00Z", [{"AGE": "3", "RATE": 1.0, "CITY": "a", "OK": True}]),
        "not json",
    ],
)
def test_a_file_the_whole_reader_could_misread_is_read_line_by_line(tmp_path, monkeypatch, line):
    from mlops.monitoring.collected import _read_clean_file

    clean_file(tmp_path)
    write(tmp_path, "2026/12/03/10", line)
    (path,) = tmp_path.rglob("*.jsonl")
    assert _read_clean_file(path, SINCE, UNTIL, set(COLUMNS)) is None

    fast, slow = read_both(tmp_path, monkeypatch)
    pd.testing.assert_frame_equal(fast.rows, slow.rows)
    assert fast.skipped == slow.skipped
