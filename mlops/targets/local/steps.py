"""Runs a pipeline graph's steps as local processes, in dependency order.

Each step's command is rendered with its inputs and outputs bound to local
paths (outputs under ``<run_dir>/<step>/outputs/<name>``) and run with
``bash -c`` in the component's code folder, as Azure ML runs it in the code
snapshot. Output is streamed line by line to the printer and to
``<run_dir>/<step>/std_log.txt``. The first failing step stops the run.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.targets.base import Printer, StepRun
from mlops.targets.local.commands import CommandError, render_command
from mlops.targets.local.pipeline_graph import Binding, PipelineGraph, Step

FILE_TYPES = {"uri_file"}
LOG_FILE = "std_log.txt"


@dataclass
class StepsResult:
    steps: list[StepRun] = field(default_factory=list)
    # pipeline output name -> local path
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(step.status == "Completed" for step in self.steps)

    @property
    def failed(self) -> StepRun | None:
        return next((step for step in self.steps if step.status == "Failed"), None)


def run_steps(
    graph: PipelineGraph,
    inputs: Mapping[str, object],
    run_dir: Path,
    show: Printer,
    step_env: Callable[[Step], Mapping[str, str]],
    step_done: Callable[[Step, StepRun], None] = lambda step, result: None,
) -> StepsResult:
    """Run every step of ``graph`` with the pipeline ``inputs``.

    ``step_env(step)`` gives each process its environment; ``step_done`` is
    called after each step. Steps after a failure are reported "NotStarted".
    """
    result = StepsResult()
    produced: dict[tuple[str, str], Path] = {}
    total = len(graph.steps)
    for index, step in enumerate(graph.steps, start=1):
        if not result.ok:
            result.steps.append(StepRun(step.name, "NotStarted"))
            continue
        folder = run_dir / step.name
        outputs = _bind_outputs(step, folder / "outputs")
        produced.update({(step.name, name): path for name, path in outputs.items()})
        for name, published in step.published.items():
            result.outputs[published] = str(outputs[name])
        show(f"[{index}/{total}] {step.name}: {step.display_name}")
        try:
            values = _bind_inputs(step, inputs, produced)
            command = render_command(step.command, values, outputs)
        except CommandError as error:
            show(f"[{index}/{total}] {step.name} cannot start: {error}")
            step_run = StepRun(step.name, "Failed", exit_code=None)
        else:
            step_run = _execute(step, command, folder, step_env(step), show)
            mark = (
                "completed"
                if step_run.status == "Completed"
                else f"failed (exit code {step_run.exit_code})"
            )
            show(f"[{index}/{total}] {step.name} {mark} in {step_run.seconds:.1f} s")
        step_done(step, step_run)
        result.steps.append(step_run)
    return result


def _bind_outputs(step: Step, folder: Path) -> dict[str, Path]:
    paths = {}
    for name, port in step.outputs.items():
        path = folder / name
        # Azure ML mounts an empty folder for every folder output before the step starts.
        (path.parent if port.type in FILE_TYPES else path).mkdir(parents=True, exist_ok=True)
        paths[name] = path
    return paths


def _bind_inputs(
    step: Step, inputs: Mapping[str, object], produced: Mapping[tuple[str, str], Path]
) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, port in step.inputs.items():
        binding = step.bindings.get(name, Binding())
        if binding.parent_input:
            value = inputs.get(binding.parent_input)
        elif binding.step_output:
            value = produced[binding.step_output]
        else:
            value = binding.literal
        values[name] = port.default if value is None else value
    return values


def _execute(
    step: Step, command: str, folder: Path, env: Mapping[str, str], show: Printer
) -> StepRun:
    log = folder / LOG_FILE
    started = time.perf_counter()
    with log.open("w") as log_file:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=step.code or folder,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            show(f"  {step.name} | {line.rstrip()}")
        code = process.wait()
    return StepRun(
        name=step.name,
        status="Completed" if code == 0 else "Failed",
        seconds=round(time.perf_counter() - started, 3),
        exit_code=code,
        log=str(log),
    )
