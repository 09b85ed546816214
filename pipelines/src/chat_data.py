"""Training data of the text-generation kind: JSONL, one example per line, in
either of the two shapes Azure ML's fine-tuning takes.

- chat: ``{"messages": [{"role": ..., "content": ...}, ...]}``, the roles
  ``system`` (at most one, first), ``user`` and ``assistant``, at least one
  user message, and an assistant message last: the completion the model
  learns; what comes before it is the prompt.
- prompt/completion: ``{"prompt": ..., "completion": ...}``.

``read_examples`` checks every line and raises ``ExampleError`` for the
first one that is wrong, naming the file, the line and the field (``line 12:
messages.2.role: 'bot' is not a role; the roles are system, user,
assistant``), so the file can be fixed where it is wrong. Texts must be
non-empty strings; a line is at most ``MAX_LINE_BYTES``, a file at most
``MAX_EXAMPLES`` examples. Other keys are kept out of the example (Azure ML
ignores them too).

An ``Example`` is the prompt's messages and the completion; a
prompt/completion line becomes a single user message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROLES = ("system", "user", "assistant")
MAX_LINE_BYTES = 64 * 1024
MAX_EXAMPLES = 1_000_000


class ExampleError(ValueError):
    """A line of the training data that is not an example; the message says where and why."""


@dataclass(frozen=True)
class Example:
    # The prompt: (role, content) pairs, the last a user message.
    prompt: tuple[tuple[str, str], ...]
    completion: str

    def to_json(self) -> dict:
        """The example as a chat line: the prompt's messages, then the completion."""
        messages = [{"role": role, "content": content} for role, content in self.prompt]
        return {"messages": [*messages, {"role": "assistant", "content": self.completion}]}


def read_examples(path: Path) -> list[Example]:
    """The examples of the JSONL file ``path`` (see the module docstring); raises
    ``ExampleError`` naming the first wrong line, or an empty file."""
    examples = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise ExampleError(
                    f"{path}: line {number}: {len(raw)} bytes, over the {MAX_LINE_BYTES} a line "
                    "may hold; shorten the example or split it"
                )
            if not raw.strip():
                continue  # a blank line (a trailing newline, say) holds no example
            if len(examples) == MAX_EXAMPLES:
                raise ExampleError(f"{path}: over {MAX_EXAMPLES} examples; keep fewer")
            examples.append(parse_line(raw, f"{path}: line {number}"))
    if not examples:
        raise ExampleError(f"{path}: no examples; write one JSON object per line")
    return examples


def parse_line(raw: bytes | str, where: str) -> Example:
    """The example a line holds; raises ``ExampleError`` starting with ``where``."""
    try:
        record = json.loads(raw)
    except UnicodeDecodeError:
        raise ExampleError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ExampleError(
            f"{where}: not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    if not isinstance(record, dict):
        raise ExampleError(f"{where}: a JSON object is needed, not {type(record).__name__}")
    if "messages" in record:
        return _chat(record["messages"], where)
    if "prompt" in record or "completion" in record:
        prompt = _text(record, "prompt", where)
        return Example(prompt=(("user", prompt),), completion=_text(record, "completion", where))
    keys = ", ".join(sorted(record)) or "none"
    raise ExampleError(
        f"{where}: neither messages nor prompt and completion (its keys: {keys}); write "
        '{"messages": [...]} or {"prompt": ..., "completion": ...}'
    )


def _chat(messages, where: str) -> Example:
    if not isinstance(messages, list) or len(messages) < 2:
        raise ExampleError(
            f"{where}: messages: a list of at least a user and an assistant message is needed"
        )
    pairs = _messages(messages, where)
    if pairs[-1][0] != "assistant":
        raise ExampleError(
            f"{where}: messages.{len(pairs) - 1}.role: the last message must be the assistant's "
            "(the completion the model learns)"
        )
    if not any(role == "user" for role, _ in pairs):
        raise ExampleError(f"{where}: messages: no user message")
    return Example(prompt=tuple(pairs[:-1]), completion=pairs[-1][1])


def parse_prompt(messages, where: str = "request") -> tuple[tuple[str, str], ...]:
    """The (role, content) pairs of a prompt to complete: messages as a chat line
    has them, the last a user's. Raises ``ExampleError`` starting with ``where``."""
    if not isinstance(messages, list) or not messages:
        raise ExampleError(f"{where}: messages: a list of messages, the last a user's, is needed")
    pairs = _messages(messages, where)
    if pairs[-1][0] != "user":
        raise ExampleError(
            f"{where}: messages.{len(pairs) - 1}.role: the last message must be the user's "
            "(the one to answer)"
        )
    return tuple(pairs)


def _messages(messages: list, where: str) -> list[tuple[str, str]]:
    """The (role, content) pairs of ``messages``, each checked."""
    pairs = []
    for index, message in enumerate(messages):
        field = f"messages.{index}"
        if not isinstance(message, dict):
            raise ExampleError(f"{where}: {field}: an object with role and content is needed")
        role = message.get("role")
        if role not in ROLES:
            raise ExampleError(
                f"{where}: {field}.role: {role!r} is not a role; the roles are {', '.join(ROLES)}"
            )
        if role == "system" and index != 0:
            raise ExampleError(f"{where}: {field}.role: a system message may only come first")
        pairs.append((role, _text(message, "content", where, field)))
    return pairs


def _text(record: dict, key: str, where: str, field: str | None = None) -> str:
    value = record.get(key)
    place = f"{where}: {field}.{key}" if field else f"{where}: {key}"
    if value is None:
        raise ExampleError(f"{place}: missing")
    if not isinstance(value, str):
        raise ExampleError(f"{place}: text is needed, not {type(value).__name__}")
    if not value.strip():
        raise ExampleError(f"{place}: empty; every text needs some")
    return value


def write_examples(path: Path, examples: Iterable[Example]) -> None:
    """Write ``examples`` to ``path`` as chat lines."""
    with open(path, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")
