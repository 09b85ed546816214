import json

import pytest
from chat_data import MAX_LINE_BYTES, Example, ExampleError, read_examples

CHAT = {
    "messages": [
        {"role": "system", "content": "Answer in words."},
        {"role": "user", "content": "Write 12 in words."},
        {"role": "assistant", "content": "twelve"},
    ]
}


def jsonl(tmp_path, *lines) -> object:
    path = tmp_path / "examples.jsonl"
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines))
    return path


def test_chat_and_prompt_completion_lines_become_a_prompt_and_its_completion(tmp_path):
    path = jsonl(tmp_path, CHAT, "", {"prompt": "Write 3 in words.", "completion": "three"})

    chat, plain = read_examples(path)

    assert chat == Example(
        prompt=(("system", "Answer in words."), ("user", "Write 12 in words.")), completion="twelve"
    )
    assert plain == Example(prompt=(("user", "Write 3 in words."),), completion="three")
    assert Example(**{"prompt": chat.prompt, "completion": chat.completion}).to_json() == CHAT


def broken(messages) -> dict:
    return {"messages": messages}


USER = {"role": "user", "content": "hi"}
ASSISTANT = {"role": "assistant", "content": "hello"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON (Expecting property name"),
        ("[1, 2]", "line 2: a JSON object is needed, not list"),
        ({"text": "hi"}, "line 2: neither messages nor prompt and completion (its keys: text)"),
        ({"prompt": "Write 3."}, "line 2: completion: missing"),
        ({"prompt": "Write 3.", "completion": "   "}, "line 2: completion: empty"),
        ({"prompt": 3, "completion": "three"}, "line 2: prompt: text is needed, not int"),
        (broken([USER]), "line 2: messages: a list of at least a user and an assistant"),
        (
            broken([USER, {"role": "bot", "content": "x"}]),
            "line 2: messages.1.role: 'bot' is not a role; the roles are system, user, assistant",
        ),
        (broken([USER, {"role": "assistant", "content": ""}]), "line 2: messages.1.content: empty"),
        (broken([USER, {"role": "assistant"}]), "line 2: messages.1.content: missing"),
        (
            broken([ASSISTANT, USER]),
            "line 2: messages.1.role: the last message must be the assistant's",
        ),
        (
            broken([USER, {"role": "system", "content": "x"}, ASSISTANT]),
            "line 2: messages.1.role: a system message may only come first",
        ),
        (
            broken([{"role": "system", "content": "x"}, ASSISTANT]),
            "line 2: messages: no user message",
        ),
        (broken([USER, "hello"]), "line 2: messages.1: an object with role and content is needed"),
    ],
)  # fmt: skip
def test_a_wrong_line_is_named_with_its_field_and_what_is_wrong(tmp_path, line, message):
    path = jsonl(tmp_path, CHAT, line, CHAT)

    with pytest.raises(ExampleError) as raised:
        read_examples(path)

    assert str(raised.value).startswith(f"{path}: {message}")


def test_an_empty_file_a_line_too_long_and_bytes_that_are_no_text_are_refused(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(ExampleError, match="no examples; write one JSON object per line"):
        read_examples(empty)

    long = jsonl(tmp_path, {"prompt": "x" * MAX_LINE_BYTES, "completion": "y"})
    with pytest.raises(ExampleError, match=f"line 1: .* over the {MAX_LINE_BYTES} a line"):
        read_examples(long)

    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"prompt": "caf\xe9", "completion": "x"}\n')
    with pytest.raises(ExampleError, match="line 1: not UTF-8 text"):
        read_examples(latin)
