"""The text-generation kind through the whole loop on the local target, as the
README's command runs it: the sample model (models/number-words) fine-tunes
the tiny base model built from its examples, is gated, deployed blue/green
after a smoke test on held-out prompts, and answers both its scoring route
and OpenAI's chat completions; a second run, no better, is rejected while the
first keeps serving. Bad examples, a base model that is no model and
generation parameters out of bounds each stop with a clear message, leaving
nothing registered or deployed."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request

import pytest

from mlops.settings import load_settings
from mlops.targets import get_target
from tests.conftest import FINE_TUNED_MODEL as MODEL
from tests.conftest import copy_project, model_file, stop_endpoints
from tests.e2e.test_run import in_process

PROMPT = [{"role": "user", "content": "Write 417 in words."}]


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")


def run(project, *args: str):
    return in_process(project, "--model", MODEL, *args)


@contextlib.contextmanager
def edited(project, old: str, new: str):
    """The model's settings file with line ``old`` replaced by ``new`` while in the block."""
    path = model_file(project, MODEL)
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    try:
        yield
    finally:
        path.write_text(text)


def target_of(project):
    return get_target(load_settings(project / "mlops.yml", model=MODEL))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, fine_tuned_template):
    """A copy of the session's fine-tuned project after two runs of the model on the
    same examples: the first reuses the template's steps, the second the first's."""
    project = copy_project(fine_tuned_template, tmp_path_factory.mktemp("fine-tune"))
    try:
        first = run(project, "run")
        second = run(project, "run")
        yield project, first, second
    finally:
        stop_endpoints(project)


def test_the_first_fine_tune_is_promoted_and_the_second_no_better_is_rejected(tuned):
    project, first, second = tuned
    assert first.returncode == 0, first.stdout + first.stderr
    for metric in ("perplexity", "token_f1", "exact_match", "rouge_l"):
        assert metric in first.stdout
    assert "gate: PROMOTE" in first.stdout
    assert f"deployed {MODEL}:1 to deployment blue" in first.stdout
    assert "smoke test passed (5 rows" in first.stdout
    # The main job succeeds: the endpoint serves the champion.
    assert second.returncode == 0, second.stdout + second.stderr
    assert "gate: REJECT (against champion 1)" in second.stdout
    assert "token_f1" in second.stdout.split("gate: REJECT")[1]
    target = target_of(project)
    assert target.get_endpoint().serving().model == f"{MODEL}:1"
    versions = {m.version: m.tags["mlops.gate"] for m in target.list_models()}
    assert versions == {"1": "promote", "2": "reject"}


def test_the_endpoint_generates_on_its_scoring_route_and_as_openai_chat(tuned):
    project, *_ = tuned
    target = target_of(project)
    base = target.get_endpoint().scoring_uri.removesuffix("/score")
    status, answer = post(f"{base}/score", {"messages": PROMPT, "max_new_tokens": 12})
    assert status == 200, answer
    assert isinstance(answer["completion"], str) and answer["completion"]
    assert answer["finish_reason"] in ("stop", "length")
    assert 1 <= answer["usage"]["completion_tokens"] <= 12
    status, chat = post(
        f"{base}/v1/chat/completions", {"model": MODEL, "messages": PROMPT, "max_tokens": 12}
    )
    assert status == 200, chat
    assert chat["object"] == "chat.completion"
    assert chat["model"] == f"{MODEL}:1"
    (choice,) = chat["choices"]
    assert choice["message"]["role"] == "assistant"
    # Greedy both ways: the same model gives the same words.
    assert choice["message"]["content"] == answer["completion"]
    # The sample request the deploy wrote is a prompt the endpoint answers.
    invoked = run(project, "endpoint", "invoke")
    assert invoked.returncode == 0, invoked.stderr
    assert isinstance(json.loads(invoked.stdout)["completion"], str)


def test_generation_parameters_out_of_bounds_are_refused_as_the_clients_fault(tuned):
    project, *_ = tuned
    target = target_of(project)
    scoring = target.get_endpoint().scoring_uri
    for body, said in (
        ({"messages": PROMPT, "max_new_tokens": 100_000}, "max_new_tokens"),
        ({"messages": PROMPT, "temperature": 5}, "temperature"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages.0.role"),
    ):
        status, answer = post(scoring, body)
        assert status == 400, (body, answer)
        assert said in json.dumps(answer)


def test_the_model_card_and_the_monitor_speak_of_what_the_model_is(tuned):
    project, *_ = tuned
    card = run(project, "card", "1")
    assert card.returncode == 0, card.stderr
    assert "text-generation" in card.stdout and "token_f1" in card.stdout
    monitored = run(project, "monitor")
    assert monitored.returncode == 1
    assert "prompts, not columns" in monitored.stderr


def test_a_bad_line_of_examples_stops_registration_naming_the_line_and_field(tuned, tmp_path):
    project, *_ = tuned
    target = target_of(project)
    before = target.find_data()
    bad = tmp_path / "bad.jsonl"
    lines = (project / "data" / "number-words" / "number_words.jsonl").read_text().splitlines()
    wrong = json.loads(lines[2])
    wrong["messages"][1]["role"] = "bot"
    bad.write_text("\n".join([*lines[:2], json.dumps(wrong), *lines[3:]]) + "\n")
    with edited(project, "path: ../../data/number-words/number_words.jsonl", f"path: {bad}"):
        failed = run(project, "run")
    assert failed.returncode == 1
    assert f"{bad}: line 3: messages.1.role: 'bot' is not a role" in failed.stderr
    assert target.find_data() == before  # no version of the bad file
    assert len(target.list_models()) == 2


def test_a_base_model_folder_that_holds_no_model_stops_the_run_before_training(tuned, tmp_path):
    project, *_ = tuned
    target = target_of(project)
    runs, models = len(target.list_runs()), len(target.list_models())
    (tmp_path / "weights").mkdir()
    with edited(project, "local_base_model: tiny", f"local_base_model: {tmp_path / 'weights'}"):
        failed = run(project, "train")
    assert failed.returncode == 1
    assert "finetune.local_base_model" in failed.stderr and "not a model" in failed.stderr
    assert (len(target.list_runs()), len(target.list_models())) == (runs, models)
