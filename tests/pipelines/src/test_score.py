"""The scoring script's request checks, without a server (see tests/mlops/test_deploy.py)."""

import io
import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import request_body
import score
from contract import Column
from flask import Request
from werkzeug.test import EnvironBuilder

from tests.conftest import free_port, wait_until
from tests.pipelines.src import steps

TYPES = {"LIMIT_BAL": "long", "AGE": "long", "RATIO": "double", "CITY": "string"}
# The contract's features: none had gaps in training.
COLUMNS = tuple(Column(name, kind, nullable=False) for name, kind in TYPES.items())
ROW = [20000, 35, 0.5, "Paris"]


def one(kind: str, nullable: bool = False) -> tuple[Column, ...]:
    """The features of a model with one column, X."""
    return (Column("X", kind, nullable),)


def body(payload) -> bytes:
    return json.dumps(payload).encode()


def split(*rows, columns=tuple(TYPES)) -> bytes:
    return body({"input_data": {"columns": list(columns), "data": [list(r) for r in rows]}})


class Model:
    def predict_proba(self, frame):
        return np.tile([0.3, 0.7], (len(frame), 1))


@pytest.fixture
def serving(monkeypatch):
    """``score.run`` with a model of ``COLUMNS`` loaded."""
    monkeypatch.setattr(score, "model", Model())
    monkeypatch.setattr(score, "contract", SimpleNamespace(columns=COLUMNS))


def post(data: bytes, content_type: str | None = "application/json") -> tuple[int, dict]:
    """Status and JSON answer of ``score.run`` for a POST of ``data``, as the server calls it."""
    environ = EnvironBuilder(method="POST", data=data, content_type=content_type).get_environ()
    return answer(environ)


def answer(environ: dict) -> tuple[int, dict]:
    response = score.run(Request(environ))
    return response.status_code, json.loads(response.get_data())


def test_a_valid_split_request_becomes_a_typed_frame_in_signature_order():
    frame = score.parse_request(split(ROW, [1, 2, 3, "Oslo"]), COLUMNS)
    assert list(frame.columns) == list(TYPES)
    # The model's input: numbers as float64, text as strings (Contract.model_frame).
    assert [str(t) for t in frame.dtypes] == ["float64", "float64", "float64", "object"]
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
        (b'{"input_data": [}', "not valid JSON: Expecting value at line 1, column 17"),
        (b'{"input_data":\n {"columns": [1 2]}}', "Expecting ',' delimiter at line 2, column 17"),
        (b'{"input_data": "Paris', "Unterminated string starting at line 1, column 16"),
        (body([1, 2]), 'expected a JSON object with the key "input_data"'),
        (body({"data": []}), 'the key "input_data"'),
        (body({"input_data": "rows"}), "input_data must be an object"),
        (body({"input_data": {"columns": ["AGE"]}}), 'needs "columns"'),
        (split(ROW[:3], columns=list(TYPES)[:3]), "missing column(s): CITY"),
        (split([*ROW, 1], columns=[*TYPES, "EXTRA"]), "unknown column(s): 'EXTRA'"),
        (split(ROW, columns=["AGE", "AGE", "RATIO", "CITY"]), "appears more than once"),
        (split(), "input_data has no rows"),
        (split(ROW[:3]), "row 0 has 3 values for 4 columns"),
        (split(["20000", 35, 0.5, "Paris"]), "column LIMIT_BAL, row 0: expected an integer"),
        (split([20000.5, 35, 0.5, "Paris"]), "column LIMIT_BAL, row 0: expected an integer"),
        (split([True, 35, 0.5, "Paris"]), "column LIMIT_BAL, row 0: expected an integer"),
        (split([1, 35, "x", "Paris"]), "column RATIO, row 0: expected a number"),
        (
            split(ROW, [1, None, 0.5, "Oslo"]),
            "column AGE, row 1: missing value (null); the model was trained without gaps",
        ),
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


INT64 = "integers from -9223372036854775808 to 9223372036854775807"


def one_value(token: str) -> bytes:
    """A request of one row with ``token`` (raw JSON) as the value of column X."""
    return f'{{"input_data": {{"columns": ["X"], "data": [[{token}]]}}}}'.encode()


@pytest.mark.parametrize(
    ("kind", "inside", "outside", "allowed"),
    [
        (
            "integer",
            ["-2147483648", "2147483647"],
            ["-2147483649", "2147483648"],
            "integers from -2147483648 to 2147483647",
        ),
        (
            "long",
            ["-9223372036854775808", "9223372036854775807"],
            ["-9223372036854775809", "9223372036854775808"],
            INT64,
        ),
        (
            "float",
            ["-3.4028235e38", "3.4028235e38", "9223372036854775808"],
            ["-3.5e38", "1e39", "1e400"],
            "numbers from -3.4028235e+38 to 3.4028235e+38",
        ),
        (
            "double",
            ["-1.7976931348623157e308", "1e308", "9223372036854775808"],
            ["-1e400", "1e309"],
            "numbers from -1.7976931348623157e+308 to 1.7976931348623157e+308",
        ),
    ],
    ids=["integer", "long", "float", "double"],
)
def test_each_numeric_type_takes_numbers_in_its_range_only(kind, inside, outside, allowed):
    for token in inside:
        frame = score.parse_request(one_value(token), one(kind))
        assert np.isfinite(frame["X"]).all(), token
    for token in outside:
        with pytest.raises(score.BadRequest) as refused:
            score.parse_request(one_value(token), one(kind))
        number = "integer" if token.isdigit() or token[1:].isdigit() else "number"
        assert (refused.value.status, str(refused.value)) == (
            400,
            f"column X, row 0: {number} out of range; {kind} columns take {allowed}",
        ), token
    expected = "an integer" if kind in ("integer", "long") else "a number"
    for token in ("true", "false", '"12"'):  # booleans and strings are not numbers
        with pytest.raises(score.BadRequest, match=f"^column X, row 0: expected {expected}$"):
            score.parse_request(one_value(token), one(kind))


TOO_LONG = "integer too long (more than 20 digits); "


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("long", TOO_LONG + "long columns take " + INT64),
        ("integer", TOO_LONG + "integer columns take integers from -2147483648 to 2147483647"),
        ("double", TOO_LONG + "write a number this large with an exponent, like 1e25"),
        ("float", TOO_LONG + "write a number this large with an exponent, like 1e25"),
        ("string", "expected a string"),
    ],
    ids=["long", "integer", "double", "float", "string"],
)
def test_an_integer_of_more_than_20_digits_is_refused_with_its_column(kind, message):
    # Python converts no more than 4300 digits: that used to read as invalid JSON.
    for token in ("1" * 21, "-" + "9" * 21, "1" + "0" * 5000):
        with pytest.raises(score.BadRequest) as refused:
            score.parse_request(one_value(token), one(kind))
        assert (refused.value.status, str(refused.value)) == (400, f"column X, row 0: {message}")


def nested(levels: int) -> bytes:
    """A request whose AGE value is a list nested so that the body is ``levels`` deep."""
    value = "[" * (levels - 4) + "1" + "]" * (levels - 4)
    return split(ROW).replace(b"[[20000, 35", f"[[20000, {value}".encode())


@pytest.mark.parametrize(
    "request_body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b"[" * 10_000,  # never closed: measured as deep as a parser would go
        b'{"a": ' * 10_000 + b"1" + b"}" * 10_000,
        nested(33),
    ],
    ids=["arrays", "unclosed", "objects", "33 levels"],
)
def test_nesting_deeper_than_32_levels_is_refused_before_parsing(request_body):
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(request_body, COLUMNS)
    assert (refused.value.status, str(refused.value)) == (
        400,
        "request body nests arrays or objects deeper than 32 levels",
    )


def test_nesting_is_counted_outside_strings_only():
    with pytest.raises(score.BadRequest, match="deeper than 32 levels"):
        score.parse_request(nested(33), COLUMNS)
    with pytest.raises(score.BadRequest, match="column AGE, row 0: expected an integer"):
        score.parse_request(nested(32), COLUMNS)
    # Brackets in strings, after an escaped quote and before an escaped backslash.
    city = '"' + "[{" * 40 + "\\"
    frame = score.parse_request(split([1, 2, 0.5, city], [1, 2, 0.5, "]}" * 40]), COLUMNS)
    assert frame["CITY"].tolist() == [city, "]}" * 40]


def test_a_body_is_read_as_utf8_only():
    text = json.dumps(
        {"input_data": {"columns": list(TYPES), "data": [[1, 2, 0.5, "Zürich"]]}},
        ensure_ascii=False,
    )
    for encoding in ("utf-16", "utf-16-le", "utf-32", "latin-1"):
        with pytest.raises(score.BadRequest) as refused:
            score.parse_request(text.encode(encoding), COLUMNS)
        assert (refused.value.status, str(refused.value)) == (
            400,
            "request body is not UTF-8 text; send JSON encoded in UTF-8",
        ), encoding
    frame = score.parse_request(text.encode("utf-8-sig"), COLUMNS)  # a byte order mark is fine
    assert frame["CITY"].tolist() == ["Zürich"]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"],
)
def test_a_body_not_declared_as_json_is_refused_as_unsupported(serving, content_type):
    assert post(split(ROW), content_type) == (
        415,
        {"message": "Content-Type must be application/json; send the body as JSON"},
    )


def test_a_json_content_type_may_carry_a_utf8_charset_only(serving):
    for content_type in ("application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"'):
        assert post(split(ROW), content_type) == (200, {"predictions": [1], "probabilities": [0.7]})
    for charset in ("latin-1", "utf-16"):
        assert post(split(ROW), f"application/json; charset={charset}") == (
            415,
            {"message": "Content-Type declares a charset other than utf-8; send JSON in UTF-8"},
        )


class Stream(io.RawIOBase):
    """A request body that counts the bytes read from it: ``data``, then spaces
    without end if ``endless``. Reading a million bytes fails the test."""

    def __init__(self, data: bytes = b"", endless: bool = False) -> None:
        self.data, self.endless, self.taken = data, endless, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = len(buffer) if self.endless else min(len(buffer), len(self.data) - self.taken)
        assert self.taken + count < 10**6, "read on and on"
        buffer[:count] = self.data[self.taken : self.taken + count].ljust(count)
        self.taken += count
        return count


def streamed(stream: Stream, content_length: int | None) -> dict:
    """The environ of a JSON POST whose body is ``stream``; chunked when there
    is no ``content_length``, as gunicorn presents it (input_terminated)."""
    environ = EnvironBuilder(method="POST", content_type="application/json").get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    if content_length is None:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    return environ


TOO_LARGE = {"message": "request body is larger than 1000 bytes; send fewer rows"}


def test_a_declared_length_over_the_limit_is_refused_before_reading(serving, monkeypatch):
    monkeypatch.setattr(request_body, "MAX_BYTES", 1000)
    stream = Stream(endless=True)
    assert answer(streamed(stream, 1001)) == (413, TOO_LARGE)
    assert stream.taken == 0


def test_a_chunked_body_is_read_up_to_one_byte_past_the_limit(serving, monkeypatch):
    monkeypatch.setattr(request_body, "MAX_BYTES", 1000)
    monkeypatch.setattr(request_body, "READ_CHUNK", 300)
    stream = Stream(split(ROW), endless=True)
    assert answer(streamed(stream, None)) == (413, TOO_LARGE)
    assert stream.taken == 1001
    # One within the limit is scored: it ends where the stream does.
    stream = Stream(split(ROW))
    assert answer(streamed(stream, None)) == (200, {"predictions": [1], "probabilities": [0.7]})


def test_an_unknown_column_name_is_clipped_in_the_message():
    name = "X" * 500
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(split([*ROW, 1], columns=[*TYPES, name]), COLUMNS)
    assert name not in str(refused.value)


def test_too_many_rows_or_bytes_are_refused_as_too_large(monkeypatch):
    monkeypatch.setattr(score, "MAX_ROWS", 2)
    with pytest.raises(score.BadRequest) as refused:
        score.parse_request(split(ROW, ROW, ROW), COLUMNS)
    assert (refused.value.status, str(refused.value)) == (
        413,
        "input_data has 3 rows; at most 2 per request",
    )
    monkeypatch.setattr(request_body, "MAX_BYTES", 10)
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


@pytest.mark.parametrize("kind", ["long", "integer", "double", "float", "string", "boolean"])
def test_a_null_is_taken_where_training_had_gaps_and_read_as_missing(kind):
    frame = score.parse_request(one_value("null"), one(kind, nullable=True))
    assert frame["X"].isna().all()
    with pytest.raises(score.BadRequest, match="missing value"):
        score.parse_request(one_value("null"), one(kind, nullable=False))


def test_booleans_reach_the_model_as_numbers_and_unseen_text_as_itself():
    features = (Column("OWNER", "boolean", True), Column("CITY", "string", True))
    request = body({"input_data": [{"OWNER": True, "CITY": "Atlantis"}]})
    frame = score.parse_request(request, features)
    assert frame.iloc[0].tolist() == [1.0, "Atlantis"]


# -- a model of each other kind, trained once and loaded as a deployment loads it --


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_store) -> dict[str, Path]:
    """The model folders of the wine (multiclass) and diabetes (regression) samples."""
    folders = {}
    for name, data, roles in (
        ("wine", steps.WINE, steps.WINE_ROLES),
        ("diabetes", steps.DIABETES, steps.DIABETES_ROLES),
    ):
        folder = tmp_path_factory.mktemp(name)
        with steps.tracking(mlflow_store, f"score-{name}"):
            folders[name] = steps.run_steps(folder, data, roles, evaluated=False)["model"]
    return folders


@pytest.fixture
def deployed(trained, monkeypatch):
    """``deployed(name)``: ``score.init()`` on that sample's model, as the server
    starts it; the script's state is put back after the test."""

    def load(name: str) -> None:
        for state in ("model", "contract", "model_kind"):
            monkeypatch.setattr(score, state, getattr(score, state))
        monkeypatch.setenv("AZUREML_MODEL_DIR", str(trained[name]))
        score.init()

    return load


def sample_rows(data: Path, roles, positions: list[int]) -> list[dict]:
    """Rows of a sample data set as records of its features."""
    table = pd.read_csv(data).iloc[positions]
    return table[list(roles.features)].to_dict(orient="records")


def test_a_multiclass_model_answers_each_rows_class_and_every_class_probability(deployed):
    deployed("wine")
    classes = ["class_0", "class_1", "class_2"]
    rows = sample_rows(steps.WINE, steps.WINE_ROLES, [0, 80, 160])  # one of each class
    status, answer = post(body({"input_data": rows}))
    assert status == 200
    assert answer["predictions"] == classes
    assert [list(row) for row in answer["probabilities"]] == [classes] * 3
    for label, row in zip(answer["predictions"], answer["probabilities"], strict=True):
        assert sum(row.values()) == pytest.approx(1)
        assert max(row, key=row.get) == label


def test_a_regression_model_answers_one_number_per_row(deployed, trained):
    deployed("diabetes")
    rows = sample_rows(steps.DIABETES, steps.DIABETES_ROLES, [0, 1, 2, 3])
    columns = list(steps.DIABETES_ROLES.features)
    status, answer = post(split(*[list(r.values()) for r in rows], columns=columns))
    assert status == 200 and list(answer) == ["predictions"]
    expected = mlflow.pyfunc.load_model(str(trained["diabetes"])).predict(pd.DataFrame(rows))
    assert answer["predictions"] == pytest.approx(expected.tolist())


@pytest.mark.parametrize(
    ("name", "roles"), [("wine", steps.WINE_ROLES), ("diabetes", steps.DIABETES_ROLES)]
)
def test_every_kind_checks_requests_as_before(deployed, name, roles):
    deployed(name)
    columns = list(roles.features)
    assert post(split([1.0] * (len(columns) - 1), columns=columns[:-1])) == (
        400,
        {"message": f"missing column(s): {columns[-1]}"},
    )
    assert post(split([None, *[1.0] * (len(columns) - 1)], columns=columns)) == (
        400,
        {
            "message": f"column {columns[0]}, row 0: missing value (null); "
            "the model was trained without gaps in this column"
        },
    )


class Shaped:
    """A model whose every output has the shape ``shape``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def predict_proba(self, frame):
        return np.full(self.shape, 0.5)

    predict = predict_proba


@pytest.mark.parametrize(
    ("name", "roles", "shape", "message"),
    [
        ("wine", steps.WINE_ROLES, (1, 2), r"shape \(1, 2\); expected \(1, 3\) probabilities"),
        ("diabetes", steps.DIABETES_ROLES, (1, 1), r"shape \(1, 1\); expected \(1,\) predictions"),
    ],
)
def test_a_model_output_of_another_shape_is_a_server_fault(
    deployed, monkeypatch, name, roles, shape, message
):
    deployed(name)
    monkeypatch.setattr(score, "model", Shaped(shape))
    with pytest.raises(ValueError, match=message):
        post(split([1.0] * len(roles.features), columns=list(roles.features)))


# -- collection: what the data collector gets, and its failures ------------------


def test_what_is_collected_of_an_answer_is_one_row_per_prediction():
    binary = score.output_frame({"predictions": [0, 1], "probabilities": [0.2, 0.9]})
    assert binary.to_dict("records") == [
        {"prediction": 0, "probability": 0.2},
        {"prediction": 1, "probability": 0.9},
    ]
    multiclass = score.output_frame(
        {"predictions": ["b"], "probabilities": [{"a": 0.25, "b": 0.75}]}
    )
    assert multiclass.to_dict("records") == [
        {"prediction": "b", "probability_a": 0.25, "probability_b": 0.75}
    ]
    regression = score.output_frame({"predictions": [151.5, 80.0]})
    assert regression.to_dict("records") == [{"prediction": 151.5}, {"prediction": 80.0}]


def collector_config(folder: Path, **enabled: bool) -> Path:
    config = folder / "mdc.json"
    collections = {
        name: {"enabled": on, "sampleRatePercentage": 100} for name, on in enabled.items()
    }
    config.write_text(json.dumps({"collections": collections, "runMode": "cloud"}))
    return config


def test_the_collections_are_those_the_collectors_configuration_enables(tmp_path, monkeypatch):
    monkeypatch.delenv("AZUREML_MDC_CONFIG_PATH", raising=False)
    monkeypatch.delenv("AZUREML_MDC_ENABLED", raising=False)
    assert score.enabled_collections() == []
    config = collector_config(tmp_path, model_inputs=True, model_outputs=False)
    monkeypatch.setenv("AZUREML_MDC_CONFIG_PATH", str(config))
    assert score.enabled_collections() == ["model_inputs"]


def test_a_collection_that_fails_is_counted_and_the_request_answered(
    serving, tmp_path, monkeypatch
):
    from azureml.ai.monitoring.init import teardown

    config = collector_config(tmp_path, model_inputs=True, model_outputs=True)
    monkeypatch.setenv("AZUREML_MDC_CONFIG_PATH", str(config))
    monkeypatch.setenv("AZUREML_MDC_PORT", str(free_port()))  # nothing receives there
    monkeypatch.setattr(score, "_collectors", None)
    monkeypatch.setattr(score, "collection_failures", 0)
    try:
        status, answer = post(split(ROW))
        assert status == 200 and answer["predictions"] == [1]
        wait_until(lambda: score.collection_failures == 2, what="both records to fail")
    finally:
        teardown()  # the collector's thread and settings are the process's


def test_failed_collections_are_all_counted_but_logged_once_a_minute(monkeypatch, caplog):
    monkeypatch.setattr(score, "collection_failures", 0)
    monkeypatch.setattr(score, "_failure_logged", 0.0)
    with caplog.at_level("WARNING", logger=score.logger.name):
        for _ in range(5):
            score._collection_failed(ConnectionRefusedError("refused"))
        assert score.collection_failures == 5
        assert [r.getMessage() for r in caplog.records] == [
            "data collection failed (1 so far): refused"
        ]
        monkeypatch.setattr(score, "FAILURE_LOG_SECONDS", 0.0)  # a minute has passed
        score._collection_failed(ConnectionRefusedError("refused"))
    assert caplog.records[-1].getMessage() == "data collection failed (6 so far): refused"
