import json

import generate_score
import pytest
import tiny_model
from flask import Request
from werkzeug.test import EnvironBuilder

from tests.conftest import REPO
from tests.pipelines.src.conftest import one_thread

SAMPLE = REPO / "data" / "number-words" / "number_words.jsonl"
ASK = [{"role": "user", "content": "Write 12 in words."}]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``generate_score`` with the tiny base model loaded, as Azure ML mounts a model."""
    one_thread()
    root = tmp_path_factory.mktemp("generate")
    assert tiny_model.main(["--data", str(SAMPLE), "--output", str(root / "model" / "1")]) == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZUREML_MODEL_DIR", str(root / "model"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        generate_score.init()
        yield generate_score


def post(payload, content_type="application/json", method="POST") -> tuple[int, dict]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    environ = EnvironBuilder(method=method, data=data, content_type=content_type).get_environ()
    response = generate_score.run(Request(environ))
    return response.status_code, json.loads(response.get_data())


def test_a_prompt_or_messages_are_completed_the_same_every_time_when_greedy(served):
    status, answer = post({"messages": ASK, "max_new_tokens": 5})
    assert status == 200, answer
    assert set(answer) == {"completion", "finish_reason", "usage"}
    assert isinstance(answer["completion"], str)
    prompt_tokens = len(generate_score.prompt_ids(served.tokenizer, (("user", ASK[0]["content"]),)))
    assert answer["usage"]["prompt_tokens"] == prompt_tokens
    assert 1 <= answer["usage"]["completion_tokens"] <= 5
    assert post({"prompt": "Write 12 in words.", "max_new_tokens": 5}) == (200, answer)


def test_max_new_tokens_bounds_the_answer_and_says_it_was_cut(served):
    # The random tiny model never ends an answer by itself: it is cut.
    short = post({"prompt": "Write 4711 in words.", "max_new_tokens": 3})[1]
    long = post({"prompt": "Write 4711 in words.", "max_new_tokens": 40})[1]
    assert (short["finish_reason"], short["usage"]["completion_tokens"]) == ("length", 3)
    assert (long["finish_reason"], long["usage"]["completion_tokens"]) == ("length", 40)
    assert long["completion"].startswith(short["completion"])  # greedy: the same start


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"messages": ASK, "max_new_tokens": 0}, "max_new_tokens takes an integer from 1 to 256"),
        ({"messages": ASK, "max_new_tokens": 10_000}, "max_new_tokens takes an integer from 1"),
        ({"messages": ASK, "max_new_tokens": True}, "max_new_tokens takes an integer"),
        ({"messages": ASK, "temperature": 2.5}, "temperature takes a number from 0 (greedy) to 2"),
        ({"messages": ASK, "top_p": 0}, "top_p takes a number above 0, up to 1"),
        ({"messages": ASK, "seed": -1}, "seed takes an integer from 0 to 2**32 - 1"),
        ({"messages": ASK, "stream": True}, "unknown key 'stream'; the keys are messages or"),
        ({"messages": ASK, "prompt": "x"}, 'send either "messages" or "prompt"'),
        ({}, 'send either "messages" or "prompt"'),
        ({"prompt": ""}, "prompt: empty"),
        (
            {"messages": [{"role": "assistant", "content": "hi"}]},
            "messages.0.role: the last message must be the user's",
        ),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role: 'robot' is not"),
        ([1], 'expected a JSON object with "messages" or "prompt"'),
        (b"{oops", "request body is not valid JSON"),
        (b"", "request body is empty"),
    ],
)  # fmt: skip
def test_a_bad_request_is_a_400_naming_what_is_wrong(served, payload, message):
    status, answer = post(payload)
    assert status == 400
    assert answer["message"].startswith(message), answer["message"]


def test_a_prompt_with_no_room_left_in_the_context_is_refused(served):
    long = " ".join(["seven thousand"] * 200)
    status, answer = post({"prompt": long, "max_new_tokens": 8})
    assert status == 400
    assert (
        "passes the model's context of 128; shorten it or ask for fewer tokens" in answer["message"]
    )


def test_only_a_json_post_is_answered(served):
    assert post({"prompt": "x"}, content_type="text/plain")[0] == 415
    assert post(b"", method="GET")[0] == 405
