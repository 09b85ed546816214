"""Scoring script of the text-generation kind's online deployment: Azure ML's
``init()`` / ``run()`` contract, as ``score.py`` is for the tabular kinds.

``init()`` loads the MLflow ``transformers`` model found under
``AZUREML_MODEL_DIR`` (the merged model the train step saved); ``run()``
answers ``POST /score``.

Request body (JSON, ``Content-Type: application/json``): the conversation
to continue, or one prompt, and generation parameters within bounds::

    {"messages": [{"role": "user", "content": "Write 12 in words."}],
     "max_new_tokens": 32, "temperature": 0.0, "top_p": 1.0}
    {"prompt": "Write 12 in words."}

``messages`` as the training data has them (roles system, user, assistant;
the last the user's); ``prompt`` is a single user message. Parameters:
``max_new_tokens`` 1 to ``MAX_NEW_TOKENS`` (``GENERATION_MAX_NEW_TOKENS``,
default 256; default 64), ``temperature`` 0 to 2 (default 0: greedy, the
same answer every time), ``top_p`` above 0 up to 1 (default 1), ``seed`` an
integer (sampling only). Any other key is refused, as are a prompt that
leaves no room for ``max_new_tokens`` in the model's context and a body
over ``MAX_REQUEST_BYTES``.

Answer (HTTP 200)::

    {"completion": "twelve", "finish_reason": "stop",
     "usage": {"prompt_tokens": 14, "completion_tokens": 2}}

``finish_reason`` is ``stop`` when the model ended its answer, ``length``
when ``max_new_tokens`` cut it. A bad request is answered 400 (413, 415) with
``{"message": ...}`` naming the key and what it takes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse
from chat_data import ExampleError, parse_prompt
from request_body import BadRequest, json_body, utf8_text
from text_model import load, prompt_ids

from common import find_model_dir

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = int(os.environ.get("GENERATION_MAX_NEW_TOKENS", "256"))
DEFAULTS = {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": None}

model = None
tokenizer = None
# One generation at a time per worker: torch's threads are the worker's.
_generating = threading.Lock()


def init() -> None:
    global model, tokenizer
    model_dir = find_model_dir(Path(os.environ["AZUREML_MODEL_DIR"]))
    model, tokenizer = load(model_dir)
    logger.info("loaded a %s text-generation model from %s", type(model).__name__, model_dir)


@rawhttp
def run(request):
    try:
        prompt, parameters = parse_request(json_body(request, "send a shorter prompt"))
        ids = prompt_ids(tokenizer, prompt)
        _check_room(len(ids), parameters["max_new_tokens"])
    except BadRequest as problem:
        return _error(str(problem), problem.status)
    with _generating:
        answer = complete(ids, parameters)
    return AMLResponse(answer, 200, json_str=True)


def parse_request(body: bytes) -> tuple[tuple[tuple[str, str], ...], dict]:
    """(the prompt's (role, content) pairs, the generation parameters) of a body;
    raises ``BadRequest`` naming what is wrong."""
    if not body.strip():
        raise BadRequest('request body is empty; send {"messages": [...]} or {"prompt": ...}')
    try:
        payload = json.loads(utf8_text(body))
    except json.JSONDecodeError as error:
        raise BadRequest(f"request body is not valid JSON ({error.msg})") from None
    if not isinstance(payload, dict):
        raise BadRequest('expected a JSON object with "messages" or "prompt"')
    unknown = sorted(set(payload) - {"messages", "prompt", *DEFAULTS})
    if unknown:
        raise BadRequest(
            f"unknown key {unknown[0][:64]!r}; the keys are messages or prompt, "
            + ", ".join(DEFAULTS)
        )
    if ("messages" in payload) == ("prompt" in payload):
        raise BadRequest('send either "messages" or "prompt", not both nor neither')
    try:
        if "messages" in payload:
            prompt = parse_prompt(payload["messages"])
        else:
            prompt = parse_prompt([{"role": "user", "content": payload["prompt"]}])
    except ExampleError as problem:
        message = str(problem).removeprefix("request: ")
        if "prompt" in payload:
            message = message.replace("messages.0.content", "prompt")
        raise BadRequest(message) from None
    return prompt, _parameters(payload)


def _parameters(payload: dict) -> dict:
    values = {name: payload.get(name, default) for name, default in DEFAULTS.items()}
    tokens = values["max_new_tokens"]
    if not _integer(tokens) or not 1 <= tokens <= MAX_NEW_TOKENS:
        raise BadRequest(f"max_new_tokens takes an integer from 1 to {MAX_NEW_TOKENS}")
    temperature = values["temperature"]
    if not _number(temperature) or not 0 <= temperature <= 2:
        raise BadRequest("temperature takes a number from 0 (greedy) to 2")
    top_p = values["top_p"]
    if not _number(top_p) or not 0 < top_p <= 1:
        raise BadRequest("top_p takes a number above 0, up to 1")
    seed = values["seed"]
    if seed is not None and (not _integer(seed) or not 0 <= seed < 2**32):
        raise BadRequest("seed takes an integer from 0 to 2**32 - 1")
    return values


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _check_room(prompt_tokens: int, max_new_tokens: int) -> None:
    context = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None
    )
    if context and prompt_tokens + max_new_tokens > context:
        raise BadRequest(
            f"the prompt is {prompt_tokens} tokens: with max_new_tokens {max_new_tokens} it "
            f"passes the model's context of {context}; shorten it or ask for fewer tokens"
        )


def complete(ids: list[int], parameters: dict) -> dict:
    """The answer to the prompt of token ``ids`` (see the module docstring)."""
    import torch

    sampling = parameters["temperature"] > 0
    options = {"do_sample": sampling}
    if sampling:
        options.update(
            temperature=float(parameters["temperature"]), top_p=float(parameters["top_p"])
        )
        if parameters["seed"] is not None:
            torch.manual_seed(parameters["seed"])
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=parameters["max_new_tokens"],
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **options,
        )
    new = out[0, len(ids) :].tolist()
    ended = tokenizer.eos_token_id in new
    if ended:
        new = new[: new.index(tokenizer.eos_token_id)]
    return {
        "completion": tokenizer.decode(new, skip_special_tokens=True).strip(),
        "finish_reason": "stop" if ended or len(new) < parameters["max_new_tokens"] else "length",
        "usage": {"prompt_tokens": len(ids), "completion_tokens": len(new) + int(ended)},
    }


def _error(message: str, status: int) -> AMLResponse:
    return AMLResponse({"message": message}, status, json_str=True)
