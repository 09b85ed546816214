import json

import pytest

from mlops.targets.local.endpoint.openai_chat import (
    ChatError,
    chat_completion,
    scoring_body,
    scoring_refusal,
)

ASK = [{"role": "user", "content": "Write 12 in words."}]


def scored(request: dict) -> dict:
    return json.loads(scoring_body(json.dumps(request).encode()))


def test_a_chat_request_becomes_the_scoring_scripts_body():
    everything = {"model": "any", "messages": ASK, "max_tokens": 8, "temperature": 0.5,
                  "top_p": 0.9, "seed": 3, "n": 1, "stream": False, "user": "u1"}  # fmt: skip
    expected = {"messages": ASK, "max_new_tokens": 8, "temperature": 0.5, "top_p": 0.9, "seed": 3}
    assert scored(everything) == expected
    assert scored({"messages": ASK, "max_completion_tokens": 4})["max_new_tokens"] == 4
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Write "}, {"type": "text", "text": "12."}],
        }
    ]
    assert scored({"messages": parts})["messages"] == [{"role": "user", "content": "Write 12."}]


@pytest.mark.parametrize(
    ("request_", "param", "message"),
    [
        ({"messages": ASK, "n": 2}, "n", "one choice per request: n must be 1"),
        ({"messages": ASK, "stream": True}, "stream", "does not stream"),
        ({"messages": ASK, "stop": ["\n"]}, "stop", "'stop' is not supported here"),
        ({"messages": ASK, "tools": []}, "tools", "'tools' is not supported here"),
        ({"messages": ASK, "max_tokens": 1, "max_completion_tokens": 1}, "max_tokens", "not both"),
        ({"model": "x"}, "messages", "messages is required"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages",
            "messages.0.content: only text parts are taken, not 'image_url'",
        ),
    ],
)  # fmt: skip
def test_what_the_scoring_script_cannot_do_is_refused_naming_the_parameter(
    request_, param, message
):
    with pytest.raises(ChatError) as refused:
        scoring_body(json.dumps(request_).encode())
    assert refused.value.param == param and message in str(refused.value)
    assert refused.value.status == 400


def test_the_answer_is_a_chat_completion_object_with_its_usage():
    answer = {"completion": "twelve", "finish_reason": "length",
              "usage": {"prompt_tokens": 9, "completion_tokens": 2}}  # fmt: skip
    completion = chat_completion(answer, "number-words:3")
    assert completion["object"] == "chat.completion" and completion["id"].startswith("chatcmpl-")
    assert completion["model"] == "number-words:3"
    assert completion["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "twelve"},
         "finish_reason": "length", "logprobs": None}
    ]  # fmt: skip
    assert completion["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}


@pytest.mark.parametrize(
    ("sent", "refused", "message", "param"),
    [
        ({"max_completion_tokens": 900}, "max_new_tokens takes an integer from 1 to 256",
         "max_completion_tokens takes an integer from 1 to 256", "max_completion_tokens"),
        ({"temperature": -1}, "temperature takes a number from 0 (greedy) to 2",
         "temperature takes a number from 0 (greedy) to 2", "temperature"),
        ({}, "messages.0.role: 'bot' is not a role", "messages.0.role: 'bot' is not a role",
         "messages"),
        ({}, "the model could not generate", "the model could not generate", None),
    ],
)  # fmt: skip
def test_the_scoring_scripts_refusal_names_the_parameter_as_the_request_did(
    sent, refused, message, param
):
    request = json.dumps({"messages": ASK, **sent}).encode()
    error = scoring_refusal(refused, request, 400)["error"]
    assert (error["message"], error["param"], error["type"]) == (
        message, param, "invalid_request_error"
    )  # fmt: skip
