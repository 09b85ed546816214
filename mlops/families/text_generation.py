"""The text-generation family's operations: its examples checked at
registration with the prep step's own parser (``pipelines/src/chat_data.py``),
the fine-tuning pipeline's inputs (the base model, ``mlops.base_models``, and
``finetune:``), and the smoke test on held-out prompts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.data_checks import DataError
from mlops.data_plane import module
from mlops.families import Operations, SmokeTest
from mlops.kinds import Kind
from mlops.kinds.text_generation import SETTINGS_INPUTS
from mlops.targets.base import DeploymentError

if TYPE_CHECKING:
    from mlops.settings import Settings
    from mlops.targets.base import DataAsset

EXAMPLES_FILE = "examples.jsonl"  # what the prep step writes into each split
# What the smoke test asks of each held-out prompt: a short greedy answer.
SMOKE_PARAMETERS = {"max_new_tokens": 16, "temperature": 0.0}
# Past any deployment's GENERATION_MAX_NEW_TOKENS: a request the server must refuse.
TOO_MANY_TOKENS = 1_000_000


@dataclass(frozen=True)
class ExamplesProfile:
    rows: int  # examples, duplicates included
    columns: tuple[str, ...]  # the fields of the chat shape, for the records
    classes: tuple[str, ...] = ()
    distinct: int = 0


def check_examples(path: Path, data, kind, *, test_size: float, name: str) -> ExamplesProfile:
    """Check every line of the JSONL file ``path`` as the prep step will
    (``chat_data.read_examples``), and that its distinct examples split into
    ``test_size`` held out and the rest to train on. Raises ``DataError`` naming
    ``name`` (how the settings name the file), the line and the field."""
    chat_data = module("chat_data")
    try:
        examples = chat_data.read_examples(path)
    except chat_data.ExampleError as problem:
        raise DataError(str(problem).replace(str(path), name, 1)) from None
    except UnicodeDecodeError:
        raise DataError(f"{name}: not UTF-8 text") from None
    distinct = len(set(examples))
    if distinct < 2:
        raise DataError(
            f"{name}: {distinct} distinct example(s); at least 2 are needed to hold some out "
            "(pipeline.test_size) and train on the rest"
        )
    if round(distinct * test_size) < 1:
        raise DataError(
            f"{name}: pipeline.test_size {test_size} of {distinct} distinct examples holds "
            "none out; add examples or raise pipeline.test_size"
        )
    return ExamplesProfile(rows=len(examples), columns=("messages",), distinct=distinct)


def pipeline_inputs(settings: Settings, asset: DataAsset) -> dict[str, object]:
    """``base_model`` (the catalog asset on Azure; locally the model folder, built
    first when it is the tiny one) and ``SETTINGS_INPUTS``."""
    from mlops.base_models import base_model
    from mlops.input_checks import inputs_from

    return {"base_model": base_model(settings, asset), **inputs_from(settings, SETTINGS_INPUTS)}


@dataclass(frozen=True)
class PromptCases:
    """The smoke test of a generation deployment: held-out prompts, each sent as
    its own request and answered with a completion, and a request past the
    bounds on generation refused as the client's fault."""

    prompts: tuple[tuple[Mapping[str, str], ...], ...]  # each: the messages of one prompt

    @classmethod
    def from_split(cls, folder: Path, settings: Settings) -> PromptCases:
        """The prompts of the first ``endpoint.smoke_rows`` held-out examples in ``folder``."""
        chat_data = module("chat_data")
        path = folder / EXAMPLES_FILE
        try:
            examples = chat_data.read_examples(path)
        except (OSError, chat_data.ExampleError) as problem:
            raise DeploymentError(
                f"{path}: no held-out prompts to smoke-test with ({problem})"
            ) from None
        chosen = examples[: settings.endpoint.smoke_rows]
        return cls(tuple(_messages(example.prompt) for example in chosen))

    @classmethod
    def from_sample(cls, body: bytes, limit: int) -> PromptCases:
        requests = json.loads(body)["requests"]
        return cls(tuple(tuple(r["messages"]) for r in requests[:limit]))

    def requests(self) -> list[dict[str, Any]]:
        return [{"messages": list(prompt), **SMOKE_PARAMETERS} for prompt in self.prompts]

    def body(self) -> bytes:
        return json.dumps({"requests": self.requests()}, ensure_ascii=False).encode()

    def sample(self) -> bytes:
        return json.dumps(self.requests()[0], ensure_ascii=False).encode()

    def run(self, target, deployment: str, kind: Kind):
        where = f"smoke test of deployment {deployment}"
        started = time.perf_counter()
        for index, request in enumerate(self.requests()):
            status, body = target.invoke(json.dumps(request).encode(), deployment=deployment)
            prompt = f"held-out prompt {index + 1}"
            if status != 200:
                shown = body[:300].decode(errors="replace")
                raise DeploymentError(f"{where}: {prompt}: HTTP {status}: {shown}")
            try:
                answer = json.loads(body)
                if not isinstance(answer, dict):
                    raise ValueError("the answer is not the generation contract's JSON")
                kind.check_answer(answer, 1)
            except ValueError as problem:
                raise DeploymentError(f"{where}: {prompt}: {problem}") from None
        seconds = time.perf_counter() - started
        greedy = {**self.requests()[0], "max_new_tokens": TOO_MANY_TOKENS}
        status, _ = target.invoke(json.dumps(greedy).encode(), deployment=deployment)
        if not 400 <= status < 500:
            raise DeploymentError(
                f"{where}: a request for {TOO_MANY_TOKENS} new tokens got HTTP {status}, not a "
                "client error (4xx)"
            )
        return SmokeTest(rows=len(self.prompts), seconds=seconds)


def _messages(prompt) -> tuple[dict[str, str], ...]:
    return tuple({"role": role, "content": content} for role, content in prompt)


OPERATIONS = Operations(
    check_data=check_examples,
    pipeline_inputs=pipeline_inputs,
    from_split=PromptCases.from_split,
    from_sample=PromptCases.from_sample,
)
