"""A step an earlier run completed with the same command, code, environment and
inputs is reused, as Azure ML reuses a pipeline node; anything else runs."""

import os
from dataclasses import replace
from pathlib import Path

import pytest

from mlops.pipeline_graph import load_pipeline
from mlops.targets.local.reuse import StepReuse
from mlops.targets.local.steps import run_steps
from tests.mlops.targets.local.test_steps import make_pipeline

SECOND = "cat ${{inputs.previous}}/word.txt > ${{outputs.out}}/copy.txt && echo second done"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The two-step pipeline of test_steps, loaded once: (folder, graph)."""
    folder = tmp_path_factory.mktemp("pipeline")
    return folder, load_pipeline(make_pipeline(folder, SECOND))


class Runs:
    """Runs of a graph in one state folder, each with its own run id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def run(self, graph, inputs=None, reuse=True):
        self.count += 1
        run_id = f"run-{self.count}"
        lines: list[str] = []
        steps = StepReuse(self.root / "cache", self.root / "runs", run_id, self.root)
        steps = steps if reuse else None
        result = run_steps(
            graph,
            {**graph.inputs, **(inputs or {})},
            self.root / "runs" / run_id,
            lines.append,
            lambda step: dict(os.environ),
            reuse=steps,
        )
        return result, lines


def ran(lines: list[str]) -> list[str]:
    """The steps that ran a process (their output shows), in order."""
    return [line.split("|")[0].strip() for line in lines if line.endswith(" done")]


def test_a_second_run_reuses_every_step_and_its_outputs(pipeline, tmp_path):
    _, graph = pipeline
    runs = Runs(tmp_path)
    first, lines = runs.run(graph)
    assert ran(lines) == ["first", "second"]
    again, lines = runs.run(graph)
    assert ran(lines) == []
    assert "[1/2] first reused the outputs of run run-1 (same code, inputs, environment)" in lines
    assert [(s.status, s.reused_from) for s in again.steps] == [("Completed", "run-1")] * 2
    assert again.outputs == first.outputs
    assert (Path(again.outputs["final"]) / "copy.txt").read_text() == "hello\nraw bytes\n"
    assert again.steps[1].log == first.steps[1].log
    assert not (tmp_path / "runs" / "run-2").exists()


def test_a_changed_input_reruns_its_step_and_every_step_after_it(pipeline, tmp_path):
    folder, graph = pipeline
    runs = Runs(tmp_path)
    runs.run(graph)
    _, lines = runs.run(graph, inputs={"word": "bonjour"})
    assert ran(lines) == ["first", "second"]
    other = tmp_path / "raw.txt"
    other.write_text((folder / "raw.txt").read_text())  # another file, the same bytes
    _, lines = runs.run(graph, inputs={"raw": other})
    assert ran(lines) == []
    other.write_text("other bytes\n")
    _, lines = runs.run(graph, inputs={"raw": other})
    assert ran(lines) == ["first", "second"]


def test_a_changed_command_reruns_that_step_only(pipeline, tmp_path):
    _, graph = pipeline
    runs = Runs(tmp_path)
    runs.run(graph)
    first, second = graph.steps
    changed = replace(second, command=SECOND.replace("copy.txt", "other.txt"))
    result, lines = runs.run(replace(graph, steps=(first, changed)))
    assert ran(lines) == ["second"]
    assert result.steps[0].reused_from == "run-1" and result.steps[1].reused_from is None


def test_changed_code_reruns_the_steps_whose_code_it_is(tmp_path):
    graph = load_pipeline(make_pipeline(tmp_path, SECOND))
    runs = Runs(tmp_path / "state")
    runs.run(graph)
    (tmp_path / "helper.py").write_text("# a new file in the components' code folder\n")
    _, lines = runs.run(graph)
    assert ran(lines) == ["first", "second"]
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"compiled")
    _, lines = runs.run(graph)
    assert ran(lines) == []


def test_a_step_that_is_not_deterministic_always_runs_and_so_do_its_readers(pipeline, tmp_path):
    _, graph = pipeline
    first, second = graph.steps
    graph = replace(graph, steps=(replace(first, deterministic=False), second))
    runs = Runs(tmp_path)
    runs.run(graph)
    _, lines = runs.run(graph)
    assert ran(lines) == ["first", "second"]


def test_without_reuse_records_or_with_lost_outputs_every_step_runs(pipeline, tmp_path):
    _, graph = pipeline
    runs = Runs(tmp_path)
    runs.run(graph)
    _, lines = runs.run(graph, reuse=False)
    assert ran(lines) == ["first", "second"]
    for output in (tmp_path / "runs").glob("*/second/outputs/out"):
        os.rename(output, output.with_name("moved"))
    _, lines = runs.run(graph)
    assert ran(lines) == ["second"]


def test_a_failed_step_is_never_reused(pipeline, tmp_path):
    _, graph = pipeline
    first, second = graph.steps
    flaky = tmp_path / "fail-once"
    flaky.write_text("")
    failing = replace(second, command=f"test ! -e {flaky} && " + SECOND)
    runs = Runs(tmp_path)
    result, _ = runs.run(replace(graph, steps=(first, failing)))
    assert [s.status for s in result.steps] == ["Completed", "Failed"]
    flaky.unlink()
    result, lines = runs.run(replace(graph, steps=(first, failing)))
    assert ran(lines) == ["second"]
    assert [s.status for s in result.steps] == ["Completed", "Completed"]
