"""The scoring script's request checks, without a server (see tests/mlops/test_deploy.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import score

COLUMNS = {"LIMIT_BAL": "long", "AGE": "long", "RATIO": "double", "CITY": "string"}
ROW = [20000, 35, 0.5, "Paris"]


def body(payload) -> bytes:
    return json.dumps(payload).encode()


def split(*rows, columns=tuple(COLUMNS)) -> bytes:
    return body({"input_data": {"columns": list(columns), "data": [list(r) for r in rows]}})


def test_a_valid_split_request_becomes_a_typed_frame_in_signature_order():
    frame = score.parse_request(split(ROW, [1, 2, 3, "Oslo"]), COLUMNS)
    assert list(frame.columns) == list(COLUMNS)
    assert [str(t) for t in frame.dtypes] == ["int64", "int64", "float64", "object"]
    assert frame["RATIO"].tolist() == [0.5, 3.0]  # an integer is a valid double


def test_records_are_accepted_in_any_column_order():
    record = {"CITY": "Paris", "RATIO": 1.5, "AGE": 40, "LIMIT_BAL": 1000}
    frame = score.parse_request(body({"input_data": [record, record]}), COLUMNS)
    assert frame.shape == (2, 4)
    assert frame["AGE"].tolist() == [40, 40]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (b"", "request body is empty"),
        (b"{not json", "not valid JSON"),
        (body([1, 2]), 'expected a JSON object with the key "input_data"'),
        (body({"data": []}), 'the key "input_data"'),
        (body({"input_data": "rows"}), "input_data must be an object"),
        (body({"input_data": {"columns": ["AGE"]}}), 'needs "columns"'),
        (split(ROW[:3], columns=list(COLUMNS)[:3]), "missing column(s): CITY"),
        (split([*ROW, 1], columns=[*COLUMNS, "EXTRA"]), "unknown column(s): 'EXTRA'"),
        (split(ROW, columns=["AGE", "AGE", "RATIO", "CITY"]), "appears more than once"),
        (split(), "input_data has no rows"),
        (split(ROW[:3]), "row 0 has 3 values for 4 columns"),
        (split(["20000", 35, 0.5, "Paris"]), "column LIMIT_BAL, row 0: expected an integer"),
        (split([20000.5, 35, 0.5, "Paris"]), "column LIMIT_BAL, row 0: expected an integer"),
        (split([True, 35, 0.5, "Paris"]), "column LIMIT_BAL, row 0: expected an integer"),
        (split([1, 35, "x", "Paris"]), "column RATIO, row 0: expected a number"),
        (split(ROW, [1, None, 0.5, "Oslo"]), "column AGE, row 1: missing value (null)"),
        (split([1, 35, 0.5, 7]), "column CITY, row 0: expected a string"),
        (split([2**63, 35, 0.5, "Paris"]), "integer out of range"),
        (b'{"input_data": {"columns": ["RATIO"], "data": [[NaN]]}}', "NaN is not allowed"),
        (b'{"input_data": {"columns": ["RATIO"], "data": [[Infinity]]}}', "Infinity is not"),
    ],
)
def test_a_bad_request_is_refused_with_a_reason(request_body, message):
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(request_body, COLUMNS)
    assert refused.value.status == 400
    assert message in str(refused.value)


def test_an_unknown_column_name_is_clipped_in_the_message():
    name = "X" * 500
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(split([*ROW, 1], columns=[*COLUMNS, name]), COLUMNS)
    assert name not in str(refused.value)


def test_too_many_rows_or_bytes_are_refused_as_too_large(monkeypatch):
    monkeypatch.setattr(score, "MAX_ROWS", 2)
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(split(ROW, ROW, ROW), COLUMNS)
    assert (refused.value.status, str(refused.value)) == (
        413,
        "input_data has 3 rows; at most 2 per request",
    )
    monkeypatch.setattr(score, "MAX_BYTES", 10)
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(split(ROW), COLUMNS)
    assert refused.value.status == 413


def test_the_positive_class_column_is_taken_and_other_shapes_are_server_faults():
    output = np.array([[0.8, 0.2], [0.3, 0.7]])
    assert score.positive_probabilities(output, 2).tolist() == [0.2, 0.7]
    with pytest.raises(ValueError, match="expected \\(2, 2\\) probabilities"):
        score.positive_probabilities(np.array([0, 1]), 2)


def test_the_model_folder_is_found_at_any_depth(tmp_path: Path):
    (tmp_path / "model" / "inner").mkdir(parents=True)
    (tmp_path / "model" / "inner" / "MLmodel").write_text("flavors: {}")
    assert score.find_model_dir(tmp_path) == tmp_path / "model" / "inner"
    (tmp_path / "MLmodel").write_text("flavors: {}")
    with pytest.raises(FileNotFoundError, match="expected one MLflow model"):
        score.find_model_dir(tmp_path)
