"""The text-generation kind's steps as pipelines/finetune.yml runs them (the
commands the local target renders from it), on a slice of the sample (number
words), with the tiny base model built from it."""

from __future__ import annotations

import importlib
import json
import math
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
import text_evaluate
import text_prep
import text_train
import tiny_model
import yaml
from chat_data import read_examples
from text_model import load
from text_prep import EXAMPLES_FILE

from mlops.pipeline_graph import load_pipeline
from mlops.targets.local.commands import render_command
from mlops.targets.local.steps import _bind_inputs, _bind_outputs
from tests.conftest import REPO
from tests.pipelines.src import steps
from tests.pipelines.src.conftest import one_thread

SAMPLE = REPO / "data" / "number-words" / "number_words.jsonl"
SLICE = 240  # examples: enough to learn from in seconds


def run_in_process(graph, inputs: dict, root: Path) -> dict[tuple[str, str], Path]:
    """Each step of ``graph`` with the command the local target renders for it (the
    YAML's, its inputs bound), run by calling the step script's ``main()`` with
    those arguments in this process: what a step's process runs, without the
    seconds each takes to import torch. Returns every step's outputs."""
    produced: dict[tuple[str, str], Path] = {}
    for step in graph.steps:
        values = _bind_inputs(step, inputs, produced)
        outputs = _bind_outputs(step, root / step.name / "outputs")
        produced.update({(step.name, name): path for name, path in outputs.items()})
        argv = shlex.split(render_command(step.command, values, outputs))
        assert argv[:1] == ["python"], step.command
        script = importlib.import_module(Path(argv[1]).stem)
        assert script.main(argv[2:]) == 0, f"{step.name}: {argv}"
    return produced


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, mlflow_store) -> SimpleNamespace:
    """The tiny base model, and the fine-tuning pipeline (pipelines/finetune.yml)
    on the slice with two lines repeated, for two epochs: the folders of each
    step's outputs."""
    one_thread()
    root = tmp_path_factory.mktemp("text-steps")
    lines = SAMPLE.read_text().splitlines()[:SLICE]
    raw = root / "raw.jsonl"
    raw.write_text("\n".join([*lines, lines[3], lines[7]]) + "\n")
    base = root / "base"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert tiny_model.main(["--data", str(SAMPLE), "--output", str(base)]) == 0
        graph = load_pipeline(REPO / "pipelines" / "finetune.yml")
        inputs = {
            **graph.inputs,
            "raw_data": raw,
            "base_model": base,
            "seed": 7,
            "target_modules": "c_attn,c_proj",  # the tiny GPT-2's, not Phi-3's
            "epochs": 2,
            "learning_rate": 0.005,
            "max_seq_length": 128,
            "generate_examples": 20,
        }
        with steps.tracking(mlflow_store, "text-steps"):
            produced = run_in_process(graph, inputs, root)
    assert [step.name for step in graph.steps] == ["prep", "train", "evaluate"]
    return SimpleNamespace(
        root=root,
        raw=raw,
        base=base,
        train=produced["prep", "train_data"],
        test_data=produced["prep", "test_data"],
        model=produced["train", "model"],
        adapter=produced["train", "adapter"],
        metrics=produced["evaluate", "metrics"],
    )


def train_args(base: Path, folders, model: Path, adapter: Path) -> list[str]:
    """The train step's arguments as the fixture's pipeline ran it."""
    return [
        "--base-model", str(base), "--train-data", str(folders["train"]),
        "--epochs", "2", "--learning-rate", "0.005", "--seed", "7",
        "--model-output", str(model), "--adapter-output", str(adapter),
    ]  # fmt: skip


def test_prep_drops_repeated_examples_and_splits_the_rest_with_the_seed(tuned, tmp_path):
    counts = json.loads((tuned.train / "prep.json").read_text())
    assert counts == {"examples": SLICE + 2, "duplicates": 2, "train": 192, "test": 48}
    train = (tuned.train / "examples.jsonl").read_text().splitlines()
    test = (tuned.test_data / "examples.jsonl").read_text().splitlines()
    assert not set(train) & set(test)

    again = ["--train-data", str(tmp_path / "train"), "--test-data", str(tmp_path / "test")]
    assert text_prep.main(["--raw-data", str(tuned.raw), "--seed", "7", *again]) == 0
    assert (tmp_path / "test" / "examples.jsonl").read_text().splitlines() == test


def test_the_fine_tuned_model_is_an_mlflow_transformers_model_that_beats_its_base(tuned):
    flavour = yaml.safe_load((tuned.model / "MLmodel").read_text())["flavors"]["transformers"]
    assert flavour["task"] == "text-generation"
    adapter = json.loads((tuned.adapter / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and sorted(adapter["target_modules"]) == [
        "c_attn", "c_proj",
    ]  # fmt: skip
    assert adapter["r"] == 8 and adapter["lora_alpha"] == 16

    held_out = read_examples(tuned.test_data / EXAMPLES_FILE)
    losses = {}
    for name, folder in (("base", tuned.base), ("tuned", tuned.model)):
        model, tokenizer = load(folder)
        losses[name] = text_evaluate.held_out_loss(model, tokenizer, held_out, 128, 32)
    assert losses["tuned"] < losses["base"] - 0.2  # it learned something of the task
    measured = json.loads((tuned.metrics / "metrics.json").read_text())
    assert measured["loss"] == pytest.approx(losses["tuned"], rel=1e-5)


def test_evaluate_writes_the_catalogues_metrics_and_every_completion(tuned):
    measured = json.loads((tuned.metrics / "metrics.json").read_text())
    catalog = json.loads(
        (Path(text_evaluate.__file__).parent / "metrics" / "text-generation.json").read_text()
    )
    assert list(measured) == list(catalog)
    assert measured["perplexity"] == pytest.approx(math.exp(measured["loss"]))
    assert (measured["test_examples"], measured["generated_examples"]) == (48, 20)
    assert (tuned.model / "MLmodel").is_file()
    assert 0 <= measured["exact_match"] <= measured["token_f1"] <= 1
    records = [json.loads(line) for line in (tuned.metrics / "generations.jsonl").open()]
    assert len(records) == 20 and all(
        set(r) == {"prompt", "reference", "generated"} for r in records
    )
    assert any(r["generated"] for r in records)


def test_the_same_seed_trains_the_same_adapter(tuned, tmp_path, mlflow_store):
    # Twice in one environment: the threads torch sums with are part of it.
    folders = {"train": tuned.train}
    with steps.tracking(mlflow_store, "text-steps-again"):
        for run in ("once", "again"):
            args = train_args(tuned.base, folders, tmp_path / run / "m", tmp_path / run / "a")
            assert text_train.main(args) == 0
    weights = "adapter_model.safetensors"
    once, again = (tmp_path / run / "a" / weights for run in ("once", "again"))
    assert once.read_bytes() == again.read_bytes()


def test_a_base_model_that_is_no_model_or_lacks_the_layers_fails_the_step_saying_so(
    tuned, tmp_path, capsys
):
    not_a_model = tmp_path / "folder"
    not_a_model.mkdir()
    (not_a_model / "weights.bin").write_bytes(b"\0" * 16)
    folders = {"train": tuned.train}
    assert text_train.main(train_args(not_a_model, folders, tmp_path / "m", tmp_path / "a")) == 2
    assert f"{not_a_model}: not a model: no config.json there" in capsys.readouterr().err

    layers = [*train_args(tuned.base, folders, tmp_path / "m", tmp_path / "a"),
              "--target-modules", "q_proj,v_proj"]  # fmt: skip
    assert text_train.main(layers) == 2
    err = capsys.readouterr().err
    assert "--target-modules 'q_proj,v_proj': the model has no q_proj, v_proj" in err
    assert "c_attn" in err
    assert not (tmp_path / "m" / "MLmodel").exists()
