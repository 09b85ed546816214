"""The step runner on small pipelines whose steps are shell one-liners."""

import os
from pathlib import Path

from mlops.pipeline_graph import load_pipeline
from mlops.targets.local.steps import run_steps

COMPONENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: {name}
inputs:
{inputs}
outputs:
  out: {{type: uri_folder}}
code: .
environment: {{image: "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}}
command: {command}
"""

PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings: {{default_compute: azureml:cpu-cluster}}
inputs:
  word: hello
  raw: {{type: uri_file, path: ./raw.txt}}
outputs:
  final: {{type: uri_folder}}
jobs:
{jobs}
"""


def make_pipeline(folder: Path, second_command: str) -> Path:
    (folder / "raw.txt").write_text("raw bytes\n")
    (folder / "first.yml").write_text(
        COMPONENT.format(
            name="first",
            inputs="  word: {type: string}\n  raw: {type: uri_file}\n"
            "  suffix: {type: string, optional: true}",
            command="echo ${{inputs.word}}$[[-${{inputs.suffix}}]] > ${{outputs.out}}/word.txt "
            "&& cat ${{inputs.raw}} >> ${{outputs.out}}/word.txt && echo first done",
        )
    )
    (folder / "second.yml").write_text(
        COMPONENT.format(
            name="second",
            inputs="  previous: {type: uri_folder}\n  times: {type: integer, default: 2}",
            command=second_command,
        )
    )
    # Written second-before-first: the runner must order them by their bindings.
    jobs = (
        "  second:\n    type: command\n    component: ./second.yml\n"
        "    inputs: {previous: '${{parent.jobs.first.outputs.out}}'}\n"
        "    outputs: {out: '${{parent.outputs.final}}'}\n"
        "  first:\n    type: command\n    component: ./first.yml\n"
        "    inputs: {word: '${{parent.inputs.word}}', raw: '${{parent.inputs.raw}}'}\n"
    )
    path = folder / "pipeline.yml"
    path.write_text(PIPELINE.format(jobs=jobs))
    return path


def run(path: Path, run_dir: Path, inputs=None):
    graph = load_pipeline(path)
    lines, finished = [], []
    result = run_steps(
        graph,
        {**graph.inputs, **(inputs or {})},
        run_dir,
        lines.append,
        step_env=lambda step: {**os.environ, "STEP_NAME": step.name},
        step_done=lambda step, outcome: finished.append((step.name, outcome.status)),
    )
    return result, lines, finished


def test_steps_run_in_order_with_bound_inputs_outputs_and_defaults(tmp_path):
    path = make_pipeline(
        tmp_path,
        "for i in $(seq ${{inputs.times}}); do cat ${{inputs.previous}}/word.txt; done "
        "> ${{outputs.out}}/twice.txt && echo step $STEP_NAME",
    )
    result, lines, finished = run(path, tmp_path / "run")
    assert result.ok
    assert finished == [("first", "Completed"), ("second", "Completed")]
    final = Path(result.outputs["final"])
    assert final == tmp_path / "run" / "second" / "outputs" / "out"
    assert (final / "twice.txt").read_text() == "hello\nraw bytes\n" * 2
    assert "  first | first done" in lines
    assert "  second | step second" in lines
    assert lines[0] == "[1/2] first: first"
    log = Path(result.steps[0].log)
    assert log.read_text() == "first done\n"


def test_an_optional_input_is_left_out_when_unset_and_used_when_bound(tmp_path):
    path = make_pipeline(tmp_path, "cp ${{inputs.previous}}/word.txt ${{outputs.out}}/")
    result, _, _ = run(path, tmp_path / "run")
    assert (Path(result.outputs["final"]) / "word.txt").read_text().startswith("hello\n")
    graph_text = path.read_text().replace(
        "raw: '${{parent.inputs.raw}}'}", "raw: '${{parent.inputs.raw}}', suffix: there}"
    )
    path.write_text(graph_text)
    result, _, _ = run(path, tmp_path / "run2")
    assert (Path(result.outputs["final"]) / "word.txt").read_text().startswith("hello-there\n")


def test_pipeline_inputs_can_be_overridden(tmp_path):
    path = make_pipeline(tmp_path, "cp ${{inputs.previous}}/word.txt ${{outputs.out}}/")
    result, _, _ = run(path, tmp_path / "run", inputs={"word": "bonjour"})
    assert (Path(result.outputs["final"]) / "word.txt").read_text().startswith("bonjour\n")


def test_the_first_failing_step_stops_the_run_with_its_exit_code(tmp_path):
    path = make_pipeline(tmp_path, "echo about to fail; exit 7")
    result, lines, finished = run(path, tmp_path / "run")
    assert finished == [("first", "Completed"), ("second", "Failed")]
    assert not result.ok
    assert [(s.name, s.status, s.exit_code) for s in result.steps] == [
        ("first", "Completed", 0),
        ("second", "Failed", 7),
    ]
    assert lines[-1].startswith("[2/2] second failed (exit code 7) in ")
    assert Path(result.steps[1].log).read_text() == "about to fail\n"


def test_steps_after_a_failure_do_not_start(tmp_path):
    path = make_pipeline(tmp_path, "cp ${{inputs.previous}}/word.txt ${{outputs.out}}/")
    (tmp_path / "first.yml").write_text(
        (tmp_path / "first.yml").read_text().replace("echo first done", "exit 3")
    )
    result, _, finished = run(path, tmp_path / "run")
    assert [(s.name, s.status) for s in result.steps] == [
        ("first", "Failed"),
        ("second", "NotStarted"),
    ]
    assert finished == [("first", "Failed")]
    assert not (tmp_path / "run" / "second").exists()


def test_paths_with_spaces_reach_the_command_intact(tmp_path):
    path = make_pipeline(tmp_path, "cp ${{inputs.previous}}/word.txt ${{outputs.out}}/")
    spaced = tmp_path / "with space" / "raw file.txt"
    spaced.parent.mkdir()
    spaced.write_text("spaced\n")
    result, _, _ = run(path, tmp_path / "run dir", inputs={"raw": spaced})
    assert result.ok
    assert (Path(result.outputs["final"]) / "word.txt").read_text() == "hello\nspaced\n"


def test_an_interrupted_step_is_stopped_with_its_whole_process_group(tmp_path):
    # The step starts a helper that ignores SIGINT, as a data loader's worker might.
    path = make_pipeline(
        tmp_path,
        "(trap '' INT; exec sleep 300) & echo $! > ${{outputs.out}}/helper.pid; echo waiting; wait",
    )
    graph = load_pipeline(path)
    lines: list[str] = []

    def show(line: str) -> None:
        lines.append(line)
        if line.endswith("| waiting"):
            raise KeyboardInterrupt  # what Ctrl-C does in the mlops process

    result = run_steps(graph, graph.inputs, tmp_path / "run", show, lambda step: dict(os.environ))
    assert [(s.name, s.status) for s in result.steps] == [
        ("first", "Completed"),
        ("second", "Canceled"),
    ]
    assert result.canceled and not result.ok
    helper = int((tmp_path / "run" / "second" / "outputs" / "out" / "helper.pid").read_text())
    assert not Path(f"/proc/{helper}").exists() or "Z" in Path(f"/proc/{helper}/stat").read_text()
    assert any("second canceled" in line for line in lines)
