"""Scoring script of the online deployment: Azure ML's ``init()`` / ``run()`` contract.

Run by ``azureml-inference-server-http`` (on a managed online endpoint, and
by the local target's endpoint). ``init()`` loads the MLflow model found under
``AZUREML_MODEL_DIR``; ``run()`` answers ``POST /score``.

Request body (JSON, sent with ``Content-Type: application/json``), either the
column-oriented form Azure ML uses for MLflow models or a list of records::

    {"input_data": {"columns": ["LIMIT_BAL", ...], "data": [[20000, ...], ...]}}
    {"input_data": [{"LIMIT_BAL": 20000, ...}, ...]}

Every feature of the model's data contract (contract.py: its signature plus
``data_contract.json``) must be present, with no others; values must match
the signature's types and fit their range (``integer``: 32-bit integers,
``long``: 64-bit integers, ``float``: numbers within float32's range,
``double``: finite numbers, ``string``: text, ``boolean``: true or false).
``null`` is accepted in a column that had gaps in training and refused in the
others; a text value never seen in training is scored (as a missing value),
not refused. NaN and infinity are refused. At most ``MAX_BATCH_ROWS`` rows (default 1000) and
``MAX_REQUEST_BYTES`` bytes (default 1 MiB) per request, UTF-8 encoded, nested
no deeper than 32 levels.

Answer (HTTP 200), by the model's kind (kinds.py):

- binary-classification: ``{"predictions": [0, 1, ...], "probabilities":
  [0.12, 0.81, ...]}``, the probability of the positive class per row and
  the label at 0.5;
- multiclass-classification: ``{"predictions": ["class_a", ...],
  "probabilities": [{"class_a": 0.7, "class_b": 0.2, "class_c": 0.1}, ...]}``,
  each row's most probable class and every class's probability, in the order
  of the class codes;
- regression: ``{"predictions": [151.2, ...]}``, the number per row.

Collection: where the deployment's ``data_collector`` enables them (Azure
ML configures the collector through ``AZUREML_MDC_CONFIG_PATH``, and the
local endpoint does the same), each scored request's model input (the frame
the model was given) is collected as ``model_inputs`` and its answer as
``model_outputs`` (a ``prediction`` column, and ``probability`` or one
``probability_<class>`` column per class), with Azure ML's own collector,
joined by one correlation id. Collection never fails or holds up a request:
the collector sends from a thread of its own, and a failure is counted and
logged, the answer given all the same.

The model's output is checked for shape: any other is a server-side fault
(a ValueError, HTTP 500). Bad input gets HTTP 400 (413 when too large, 415
for another Content-Type, 405 for other methods) with ``{"message": ...}``
naming the column or key at fault; the payload's values are never echoed and
no stack trace is returned.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

# The model's format (skops), before MLflow: see model_format.py.
import model_format  # noqa: F401  # isort: skip
import mlflow.sklearn
import numpy as np
import pandas as pd
import request_body
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse
from collector_link import BadAnswer, Link
from contract import BINARY, Column, Contract, load_contract, model_frame

# The binary kind's threshold and output check, named here as well: code that
# scores as this script does (the deploy tests' stand-in for a deployment) uses them.
from kind_binary import THRESHOLD as THRESHOLD
from kind_binary import positive_probabilities as positive_probabilities
from kinds import KINDS, Kind
from request_body import BadRequest, json_body, too_large, utf8_text

from common import find_model_dir

MAX_ROWS = int(os.environ.get("MAX_BATCH_ROWS", "1000"))
# Column names quoted in error messages are clipped: they come from the caller.
NAME_LIMIT = 64
# Arrays and objects nested deeper than this are refused before parsing (a
# request needs 4 levels; json recursion on deeper input can exhaust the stack).
MAX_DEPTH = 32
# Integers are parsed up to this many digits (int64 takes 19); a longer one is
# out of range for every column type, and Python refuses to convert beyond 4300.
MAX_INT_DIGITS = 20

# MLflow signature type -> the JSON values it accepts
_TYPES = {
    "long": (int,),
    "integer": (int,),
    "double": (int, float),
    "float": (int, float),
    "string": (str,),
    "boolean": (bool,),
}
_TYPE_WORDS = {
    "long": "an integer",
    "integer": "an integer",
    "double": "a number",
    "float": "a number",
    "string": "a string",
    "boolean": "true or false",
}


def _integers(bits: int) -> tuple[int, int, str]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return low, high, f"integers from {low} to {high}"


# The largest double that rounds to a finite float32: FLT_MAX plus half a unit
# in the last place (2**128 - 2**103) is the first that rounds to infinity.
_FLOAT32_LIMIT = math.nextafter(2.0**128 - 2.0**103, 0)
_FLOAT32_MAX = str(np.finfo(np.float32).max)  # 3.4028235e+38
_FLOAT64_MAX = sys.float_info.max
# MLflow signature type -> (lowest, highest, the range in words) of its values
_RANGES = {
    "integer": _integers(32),
    "long": _integers(64),
    "float": (-_FLOAT32_LIMIT, _FLOAT32_LIMIT, f"numbers from -{_FLOAT32_MAX} to {_FLOAT32_MAX}"),
    "double": (-_FLOAT64_MAX, _FLOAT64_MAX, f"numbers from -{_FLOAT64_MAX} to {_FLOAT64_MAX}"),
}

# A JSON string, up to its closing quote or the end of the body if unterminated
# (possessive, so a scan is linear in the body's length).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# Bytes to nesting steps: [ and { open a level (+1), ] and } close one (-1 as int8).
_STEPS = bytes(1 if byte in b"[{" else 255 if byte in b"]}" else 0 for byte in range(256))


class _LongInteger:
    """What the parser gives for an integer of more than ``MAX_INT_DIGITS`` digits."""

    def __repr__(self) -> str:
        return "<integer too long>"


_LONG_INTEGER = _LongInteger()

logger = logging.getLogger("score")
# The collections score.py writes, as the deployment file names them.
INPUTS, OUTPUTS = "model_inputs", "model_outputs"
# This process's collectors: (pid, {name: Collector}), made on first use.
_collectors: tuple[int, dict] | None = None
# How long the collector's thread waits for the receiver of a record.
SEND_SECONDS = 5.0
# How long the collector's thread holds a record back while requests are scored.
HOLD_SECONDS = 0.05
collection_failures = 0
# Failed collections are logged at most once in this many seconds (the first at once).
FAILURE_LOG_SECONDS = 60.0
_failure_logged = 0.0
model = None
contract: Contract | None = None
# The loaded model's row of kinds.py (a binary classifier's until init() loads one).
model_kind: Kind = KINDS[BINARY]


def init() -> None:
    global model, contract, model_kind
    model_dir = find_model_dir(Path(os.environ["AZUREML_MODEL_DIR"]))
    contract = load_contract(model_dir)
    model_kind = KINDS[contract.kind]
    # The estimator itself, not MLflow's pyfunc wrapper: the contract checks
    # each request instead of the signature, which cannot say that a long
    # column may hold a null or that an unseen category is to be scored.
    model = mlflow.sklearn.load_model(str(model_dir))
    logger.info(
        "loaded %s model from %s with %d input columns",
        model_kind.name,
        model_dir,
        len(contract.columns),
    )


@rawhttp
def run(request):
    try:
        frame = parse_request(json_body(request), contract.columns)
    except BadRequest as problem:
        return _error(str(problem), problem.status)
    with scoring:
        scored = answer(frame)
        collect(OUTPUTS, output_frame(scored), collect(INPUTS, frame))
    return AMLResponse(scored, 200, json_str=True)


def collect(name: str, frame: pd.DataFrame, context=None):
    """Collect ``frame`` as collection ``name`` (with ``context``, the one an
    earlier call of this request returned); return the correlation context, or
    None. Never raises: a failure is counted and logged."""
    collector = collectors().get(name)
    if collector is None:
        return context
    try:
        return collector.collect(frame, context)
    except Exception as error:  # the collector's own, or its on_error's re-raise
        _collection_failed(error)
        return context


def collectors() -> dict:
    """This process's collectors, by collection name: those the collector's
    configuration enables, none when it enables nothing. Made in the process that
    scores, on first use: the collector sends from a thread, and a worker forked
    from a master that ran ``init()`` (``WORKER_PRELOAD``) has none of its threads."""
    global _collectors
    if _collectors is None or _collectors[0] != os.getpid():
        made = {}
        try:
            names = enabled_collections()
            if names:
                from azureml.ai.monitoring import Collector

                made = {name: Collector(name=name, on_error=_collection_failed) for name in names}
                _keep_alive()
        except Exception as error:  # not tried again: the request is what matters
            _collection_failed(error)
            made = {}
        _collectors = (os.getpid(), made)
    return _collectors[1]


def _keep_alive() -> None:
    """Give the collector's sender one kept-alive connection. As released, it
    posts each record with ``requests.post``: a new session and connection per
    record, about a millisecond of this process's CPU, taken from the requests
    it scores. What it posts, where, and how it reads the answer stay the same;
    a sender of another shape is left as it is."""
    from azureml.ai.monitoring.worker import get_worker

    sender = getattr(get_worker(), "_sender", None)
    if sender is None or not all(hasattr(sender, a) for a in ("_post_request", "host", "port")):
        return
    sender._post_request = _KeptAlive(sender.host, sender.port).post


class _Scoring:
    """``with scoring:`` around a request's scoring; ``wait_idle(seconds)`` returns
    once no request is being scored, or after ``seconds``.

    The collector's thread shares the interpreter with the requests: each time
    the model's predict lets go of it, a thread with a record to send takes it,
    and the request waits. So records are sent between requests, held back at
    most ``HOLD_SECONDS`` while requests keep coming (several threads scoring)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = 0
        self.idle = threading.Event()
        self.idle.set()

    def __enter__(self) -> None:
        with self.lock:
            self.busy += 1
            self.idle.clear()

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.busy -= 1
            if not self.busy:
                self.idle.set()

    def wait_idle(self, seconds: float) -> None:
        self.idle.wait(seconds)


scoring = _Scoring()


class _KeptAlive:
    """The sender's ``_post_request(url, payload, headers) -> (status, text)`` over
    one ``collector_link.Link``, sent once no request is being scored; used by the
    collector's one sending thread."""

    def __init__(self, host: str, port: int) -> None:
        self.link = Link(host, port, SEND_SECONDS)

    def post(self, url: str, payload, headers=None) -> tuple[int, str]:
        body = payload.encode() if isinstance(payload, str) else payload
        scoring.wait_idle(HOLD_SECONDS)
        try:
            return self.link.post(urlsplit(url).path or "/", body, headers or {})
        except (OSError, ValueError, BadAnswer) as error:
            # counted here; the sender logs it as a failed send
            _collection_failed(error)
            raise _send_failed(str(error)) from None


def _send_failed(message: str) -> Exception:
    # The sender counts what requests raises as a failed send; anything else
    # would end its thread, and collection with it.
    import requests

    return requests.exceptions.ConnectionError(message)


def enabled_collections() -> list[str]:
    """Which of ``INPUTS`` and ``OUTPUTS`` the collector's configuration enables,
    read as azureml-ai-monitoring reads it: the file ``AZUREML_MDC_CONFIG_PATH``
    names, or else ``AZUREML_MDC_ENABLED`` for every collection."""
    path = os.environ.get("AZUREML_MDC_CONFIG_PATH")
    if not path:
        enabled = os.environ.get("AZUREML_MDC_ENABLED", "false").lower() == "true"
        return [INPUTS, OUTPUTS] if enabled else []
    try:
        with open(path) as handle:
            declared = json.load(handle).get("collections", {})
    except (OSError, ValueError, AttributeError) as error:
        _collection_failed(error)
        return []
    on = {str(name).lower() for name, item in declared.items() if item.get("enabled")}
    return [name for name in (INPUTS, OUTPUTS) if name in on]


def _collection_failed(error: Exception) -> None:
    """Count a failed collection; log the first, then at most one a minute (a
    receiver that is gone fails every record: a line per request would bury the
    log and cost each request the write)."""
    global collection_failures, _failure_logged
    collection_failures += 1
    now = time.monotonic()
    if collection_failures == 1 or now - _failure_logged >= FAILURE_LOG_SECONDS:
        _failure_logged = now
        logger.warning("data collection failed (%d so far): %s", collection_failures, error)


def output_frame(scored: dict) -> pd.DataFrame:
    """The answer ``scored`` as a frame to collect: one row per prediction."""
    columns = {"prediction": scored["predictions"]}
    probabilities = scored.get("probabilities")
    if probabilities and isinstance(probabilities[0], dict):
        for name in probabilities[0]:
            columns[f"probability_{name}"] = [row[name] for row in probabilities]
    elif probabilities is not None:
        columns["probability"] = probabilities
    return pd.DataFrame(columns)


def answer(frame: pd.DataFrame) -> dict:
    """The loaded model's answer for its input ``frame`` (see the module
    docstring); raises ValueError when the model's output has the wrong shape."""
    return model_kind.answer(model_kind.predict(model, frame, contract), contract)


def parse_request(body: bytes, features: tuple[Column, ...]) -> pd.DataFrame:
    """Validate a request body against the contract's ``features`` and return
    the model's input (``Contract.model_frame``'s form, in the contract's order).
    Raises ``BadRequest`` whose message names what is wrong, never a value."""
    columns = {column.name: column for column in features}
    if len(body) > request_body.MAX_BYTES:
        raise too_large()
    if not body.strip():
        raise BadRequest('request body is empty; send {"input_data": ...} as JSON')
    text = utf8_text(body)
    if _too_deep(body):
        raise BadRequest(f"request body nests arrays or objects deeper than {MAX_DEPTH} levels")
    try:
        payload = _JSON.decode(text)
    except BadRequest:
        raise
    except json.JSONDecodeError as error:
        # The parser's reasons are fixed phrases ("Expecting value"), never the input;
        # some end in "at" ("Unterminated string starting at").
        reason = error.msg.removesuffix(" at")
        raise BadRequest(
            f"request body is not valid JSON: {reason} at line {error.lineno}, column {error.colno}"
        ) from None
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
    # The caller's values as they are (None for null): the contract makes them
    # the model's input exactly as it does for training and evaluation.
    return model_frame(
        features, pd.DataFrame({name: values[name] for name in columns}, dtype=object)
    )


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


def _check_names(names: list, columns: dict[str, Column]) -> None:
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


def _check_value(value, column: Column, name: str, row: int) -> None:
    kind = column.type
    accepted = _TYPES.get(kind, (object,))
    if value is None:
        if column.nullable:
            return
        raise BadRequest(
            f"column {name}, row {row}: missing value (null); the model was trained "
            "without gaps in this column"
        )
    limits = _RANGES.get(kind)
    if value is _LONG_INTEGER and limits is not None:
        advice = (
            f"{kind} columns take {limits[2]}"
            if isinstance(limits[0], int)
            else "write a number this large with an exponent, like 1e25"
        )
        raise BadRequest(
            f"column {name}, row {row}: integer too long (more than {MAX_INT_DIGITS} digits); "
            + advice
        )
    # bool is a subclass of int in Python, and never a valid number here.
    if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
        raise BadRequest(f"column {name}, row {row}: expected {_TYPE_WORDS.get(kind, kind)}")
    if limits is not None and not limits[0] <= value <= limits[1]:
        number = "number" if isinstance(value, float) else "integer"
        raise BadRequest(
            f"column {name}, row {row}: {number} out of range; {kind} columns take {limits[2]}"
        )


def _too_deep(body: bytes) -> bool:
    """Whether arrays and objects nest deeper than ``MAX_DEPTH`` in ``body``, by
    its brackets outside strings, without parsing it. Every prefix counts, so an
    invalid body is measured as far as a parser would recurse into it."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False  # it cannot nest deeper than it opens
    steps = np.frombuffer(_STRING.sub(b"", body).translate(_STEPS), dtype=np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0)) > MAX_DEPTH


def _parse_int(text: str):
    if len(text) > MAX_INT_DIGITS and len(text.lstrip("-")) > MAX_INT_DIGITS:
        return _LONG_INTEGER  # refused by _check_value, which knows the column
    return int(text)


def _no_constant(word: str):
    raise BadRequest(f"column values must be finite numbers; {word} is not allowed")


# One decoder for every request: json.loads with options builds one per call.
_JSON = json.JSONDecoder(parse_int=_parse_int, parse_constant=_no_constant)


def _clip(name: str) -> str:
    return repr(name if len(name) <= NAME_LIMIT else name[:NAME_LIMIT] + "...")


def _error(message: str, status: int) -> AMLResponse:
    return AMLResponse({"message": message}, status, json_str=True)
