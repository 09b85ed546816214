"""The OpenAI chat completions shape, for a local endpoint whose model generates
text: ``POST /v1/chat/completions`` in the form any OpenAI client sends,
answered in the form it reads, through the deployment's own ``/score``
(``pipelines/src/generate_score.py``).

``scoring_body`` turns a chat completions request into the scoring script's
body: ``messages`` (text content, or a list of text parts), ``max_tokens``
or ``max_completion_tokens`` as ``max_new_tokens``, ``temperature``,
``top_p`` and ``seed`` as they are; ``model`` and ``user`` are accepted and
not used (the endpoint serves one model). What the scoring script cannot do
is refused, naming the parameter: ``n`` other than 1, ``stream``, ``stop``,
``tools`` and any other key. ``chat_completion`` turns the script's answer
into a ``chat.completion`` object; ``error`` gives OpenAI's error object,
and ``scoring_refusal`` the one of the scoring script's own refusal
(``{"message": ...}``), under the names the request used.
"""

from __future__ import annotations

import json
import re
import secrets
import time

CHAT_PATH = "/v1/chat/completions"
# Taken and passed on under the scoring script's name (None: under its own).
PASSED = {
    "messages": None,
    "max_tokens": "max_new_tokens",
    "max_completion_tokens": "max_new_tokens",
    "temperature": None,
    "top_p": None,
    "seed": None,
}
IGNORED = {"model", "user"}


class ChatError(Exception):
    """A request this endpoint cannot answer: ``status``, the message and the parameter."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param, self.status = param, status


def scoring_body(body: bytes) -> bytes:
    """The scoring script's body for the chat completions request ``body``; raises
    ``ChatError`` for what it cannot take."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ChatError("the body is not JSON; send a chat completions request") from None
    if not isinstance(request, dict):
        raise ChatError("the body must be a JSON object")
    if request.get("n", 1) != 1:
        raise ChatError("this endpoint gives one choice per request: n must be 1", "n")
    if request.get("stream"):
        raise ChatError("this endpoint does not stream: leave stream out or false", "stream")
    unknown = sorted(set(request) - set(PASSED) - IGNORED - {"n", "stream"})
    if unknown:
        raise ChatError(
            f"{unknown[0][:64]!r} is not supported here; the parameters are "
            + ", ".join(sorted({*PASSED, *IGNORED, "n", "stream"})),
            unknown[0][:64],
        )
    if "max_tokens" in request and "max_completion_tokens" in request:
        raise ChatError("give max_tokens or max_completion_tokens, not both", "max_tokens")
    if "messages" not in request:
        raise ChatError("messages is required", "messages")
    scoring = {}
    for name, value in request.items():
        if name in PASSED:
            scoring[PASSED[name] or name] = value
    scoring["messages"] = _texts(request["messages"])
    return json.dumps(scoring).encode()


def _texts(messages) -> object:
    """``messages`` with each content given as a list of text parts joined into one
    text; anything else is left for the scoring script to check."""
    if not isinstance(messages, list):
        return messages
    plain = []
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            parts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text":
                    kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                    raise ChatError(
                        f"messages.{index}.content: only text parts are taken, not {kind!r}",
                        "messages",
                    )
                parts.append(str(part.get("text", "")))
            message = {**message, "content": "".join(parts)}
        plain.append(message)
    return plain


def chat_completion(answer: dict, model: str) -> dict:
    """The ``chat.completion`` object of the scoring script's answer."""
    usage = answer.get("usage", {})
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.get("completion", "")},
                "finish_reason": answer.get("finish_reason", "stop"),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def error(message: str, param: str | None = None, status: int = 400) -> dict:
    """OpenAI's error object (``type`` by the status, as OpenAI's API gives it)."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def scoring_refusal(message: str, request: bytes, status: int) -> dict:
    """OpenAI's error object for the scoring script's refusal ``message`` of the
    body made from the chat request ``request``: the parameter its message starts
    with as ``param``, named as the request named it (``max_tokens``, say, where
    the scoring script says ``max_new_tokens``)."""
    named = re.match(r"[a-z_]+", message)
    param = named.group(0) if named else None
    if param not in {*PASSED, *filter(None, PASSED.values())}:
        return error(message, None, status)
    sent = json.loads(request)
    given = [name for name, passed in PASSED.items() if passed == param and name in sent]
    if given:
        message, param = given[0] + message[len(param) :], given[0]
    return error(message, param, status)
