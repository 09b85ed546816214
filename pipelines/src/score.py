"""Scoring script of the online deployment: Azure ML's ``init()`` / ``run()`` contract.

Run by ``azureml-inference-server-http`` (on a managed online endpoint, and
by the local target's endpoint). ``init()`` loads the MLflow model found under
``AZUREML_MODEL_DIR``; ``run()`` answers ``POST /score``.

Request body (JSON), either the column-oriented form Azure ML uses for MLflow
models or a list of records::

    {"input_data": {"columns": ["LIMIT_BAL", ...], "data": [[20000, ...], ...]}}
    {"input_data": [{"LIMIT_BAL": 20000, ...}, ...]}

Every column of the model's signature must be present, with no others; values
must match the signature's types (``long``: integers, ``double``: numbers,
``string``: text) and be finite (no null, NaN or infinity). At most
``MAX_BATCH_ROWS`` rows (default 1000) and ``MAX_REQUEST_BYTES`` bytes
(default 1 MiB) per request.

Answer: ``{"predictions": [0, 1, ...], "probabilities": [0.12, 0.81, ...]}``,
the probability of the positive class per row and the label at 0.5. Bad input
gets HTTP 400 (413 when too large, 405 for other methods) with
``{"message": ...}`` naming the column or key at fault; the payload's values
are never echoed and no stack trace is returned.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

THRESHOLD = 0.5
MAX_ROWS = int(os.environ.get("MAX_BATCH_ROWS", "1000"))
MAX_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(1024 * 1024)))
# Column names quoted in error messages are clipped: they come from the caller.
NAME_LIMIT = 64

# MLflow signature type -> (accepted JSON types, pandas dtype)
_TYPES = {
    "long": ((int,), "int64"),
    "integer": ((int,), "int32"),
    "double": ((int, float), "float64"),
    "float": ((int, float), "float32"),
    "string": ((str,), "object"),
    "boolean": ((bool,), "bool"),
}
_TYPE_WORDS = {
    "long": "an integer",
    "integer": "an integer",
    "double": "a number",
    "float": "a number",
    "string": "a string",
    "boolean": "true or false",
}

logger = logging.getLogger("score")
model = None
schema: dict[str, str] = {}


class BadRequest(ValueError):
    """The request cannot be scored; the message is safe to return to the caller."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def find_model_dir(root: Path) -> Path:
    """The one folder under ``root`` that holds an ``MLmodel`` file.

    Azure ML mounts a registered model under ``AZUREML_MODEL_DIR`` in a
    sub-folder named after the registered path, so the depth is not fixed."""
    found = sorted(path.parent for path in root.rglob("MLmodel"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one MLflow model (MLmodel file) under {root}, found {found}"
        )
    return found[0]


def input_schema(loaded) -> dict[str, str]:
    """Column name -> MLflow type name, from the model's signature (required)."""
    spec = loaded.metadata.get_input_schema()
    if spec is None or not spec.has_input_names():
        raise ValueError("the model has no input signature with column names; save it with one")
    return {col.name: col.type.name for col in spec.inputs}


def init() -> None:
    global model, schema
    model_dir = find_model_dir(Path(os.environ["AZUREML_MODEL_DIR"]))
    # suppress_warnings skips MLflow's comparison of the model's requirements with
    # the installed packages (a second of start-up): environments/score pins the
    # training versions, and a test keeps both equal to uv.lock.
    model = mlflow.pyfunc.load_model(str(model_dir), suppress_warnings=True)
    schema = input_schema(model)
    logger.info("loaded model from %s with %d input columns", model_dir, len(schema))


@rawhttp
def run(request):
    if request.method != "POST":
        return _error("use POST with a JSON body", 405)
    body = request.get_data(cache=False)
    try:
        frame = parse_request(body, schema)
        probabilities = positive_probabilities(model.predict(frame), len(frame))
    except BadRequest as problem:
        return _error(str(problem), problem.status)
    answer = {
        "predictions": [int(p >= THRESHOLD) for p in probabilities],
        "probabilities": [float(p) for p in probabilities],
    }
    return AMLResponse(answer, 200, json_str=True)


def parse_request(body: bytes, columns: dict[str, str]) -> pd.DataFrame:
    """Validate a request body against ``columns`` (name -> MLflow type) and
    return it as a frame with the signature's column order and dtypes.
    Raises ``BadRequest`` whose message names what is wrong, never a value."""
    if len(body) > MAX_BYTES:
        raise BadRequest(f"request body is larger than {MAX_BYTES} bytes; send fewer rows", 413)
    if not body.strip():
        raise BadRequest('request body is empty; send {"input_data": ...} as JSON')
    try:
        payload = json.loads(body, parse_constant=_no_constant)
    except BadRequest:
        raise
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(payload, dict) or "input_data" not in payload:
        raise BadRequest('expected a JSON object with the key "input_data"')
    names, rows = _rows(payload["input_data"])
    _check_names(names, columns)
    if not rows:
        raise BadRequest("input_data has no rows")
    if len(rows) > MAX_ROWS:
        raise BadRequest(f"input_data has {len(rows)} rows; at most {MAX_ROWS} per request", 413)
    values = {name: [] for name in names}
    for number, row in enumerate(rows):
        if len(row) != len(names):
            raise BadRequest(f"row {number} has {len(row)} values for {len(names)} columns")
        for name, value in zip(names, row, strict=True):
            _check_value(value, columns[name], name, number)
            values[name].append(value)
    return pd.DataFrame(
        {name: np.asarray(values[name], dtype=_TYPES[kind][1]) for name, kind in columns.items()}
    )


def positive_probabilities(output, rows: int) -> np.ndarray:
    """The positive-class column of the model's ``predict_proba`` output.
    Anything else is a server-side fault (raised as ValueError, logged, HTTP 500)."""
    array = np.asarray(output, dtype=float)
    if array.ndim != 2 or array.shape != (rows, 2):
        raise ValueError(
            f"model output has shape {array.shape}; expected ({rows}, 2) probabilities"
        )
    return array[:, 1]


def _rows(data) -> tuple[list[str], list[list]]:
    if isinstance(data, dict):
        names, rows = data.get("columns"), data.get("data")
        if not isinstance(names, list) or not isinstance(rows, list):
            raise BadRequest(
                'input_data needs "columns" (a list of names) and "data" (a list of rows)'
            )
        if not all(isinstance(row, list) for row in rows):
            raise BadRequest('every row of input_data "data" must be a list of values')
        return names, rows
    if isinstance(data, list):
        if not all(isinstance(record, dict) for record in data):
            raise BadRequest("a list input_data must hold one object per row")
        names = list(data[0]) if data else []
        for number, record in enumerate(data):
            if list(record) != names:
                raise BadRequest(f"record {number} does not have the same keys as record 0")
        return names, [list(record.values()) for record in data]
    raise BadRequest("input_data must be an object with columns and data, or a list of records")


def _check_names(names: list, columns: dict[str, str]) -> None:
    if not all(isinstance(name, str) for name in names):
        raise BadRequest("column names must be strings")
    if len(set(names)) != len(names):
        raise BadRequest("a column name appears more than once")
    missing = [name for name in columns if name not in names]
    if missing:
        raise BadRequest(f"missing column(s): {', '.join(missing)}")
    unknown = [name for name in names if name not in columns]
    if unknown:
        shown = ", ".join(_clip(name) for name in unknown[:5])
        raise BadRequest(f"unknown column(s): {shown}; the model takes {', '.join(columns)}")


def _check_value(value, kind: str, name: str, row: int) -> None:
    accepted, _ = _TYPES.get(kind, ((object,), "object"))
    # bool is a subclass of int in Python, and never a valid number here.
    if value is None:
        raise BadRequest(f"column {name}, row {row}: missing value (null)")
    if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
        raise BadRequest(f"column {name}, row {row}: expected {_TYPE_WORDS.get(kind, kind)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"column {name}, row {row}: not a finite number")
    if isinstance(value, int) and kind == "long" and not -(2**63) <= value < 2**63:
        raise BadRequest(f"column {name}, row {row}: integer out of range")


def _no_constant(word: str):
    raise BadRequest(f"column values must be finite numbers; {word} is not allowed")


def _clip(name: str) -> str:
    return repr(name if len(name) <= NAME_LIMIT else name[:NAME_LIMIT] + "...")


def _error(message: str, status: int) -> AMLResponse:
    return AMLResponse({"message": message}, status, json_str=True)
