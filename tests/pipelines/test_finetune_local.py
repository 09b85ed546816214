"""pipelines/finetune.yml runs on the local target's step runner: each step's
command as Azure ML would run it, on the CPU, with the tiny base model."""

import json
from pathlib import Path

from mlops.pipeline_graph import load_pipeline
from mlops.targets.local.child_env import child_env
from mlops.targets.local.steps import run_steps
from tests.conftest import REPO

SAMPLE = REPO / "data" / "number-words" / "number_words.jsonl"


def test_the_fine_tuning_pipeline_runs_its_steps_locally_on_the_tiny_model(tmp_path):
    import tiny_model

    base = tmp_path / "base"
    assert tiny_model.main(["--data", str(SAMPLE), "--output", str(base)]) == 0
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:120]))
    graph = load_pipeline(REPO / "pipelines" / "finetune.yml")
    inputs = {
        **graph.inputs,
        "raw_data": raw,
        "base_model": base,
        "target_modules": "c_attn,c_proj",  # the tiny GPT-2's, not Phi-3's
        "epochs": 1,
        "max_seq_length": 128,
        "generate_examples": 8,
    }
    lines = []
    env = child_env(
        {
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "MLFLOW_EXPERIMENT_NAME": "finetune-local",
            "HF_HUB_OFFLINE": "1",
        }
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    result = run_steps(graph, inputs, run_dir, lines.append, lambda step: env)

    assert result.ok, "\n".join(lines[-30:])
    assert [step.name for step in result.steps] == ["prep", "train", "evaluate"]
    outputs = {name: Path(folder) for name, folder in result.outputs.items()}
    measured = json.loads((outputs["metrics"] / "metrics.json").read_text())
    assert measured["test_examples"] == 24 and measured["generated_examples"] == 8
    assert (outputs["model"] / "MLmodel").is_file()
    assert (outputs["adapter"] / "adapter_config.json").is_file()
