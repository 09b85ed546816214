"""Runs a pipeline graph's steps as local processes, in dependency order.

Each step's command is rendered with its inputs and outputs bound to local
paths (outputs under ``<run_dir>/<step>/outputs/<name>``) and run with
``bash -c`` in the component's code folder, as Azure ML runs it in the code
snapshot. Output is streamed line by line to the printer and to
``<run_dir>/<step>/std_log.txt``. The first failing step stops the run.

With a ``StepReuse``, a step whose command, code, environment and inputs are
those of a step an earlier run completed is not run again: its outputs are
that run's (see ``reuse.py``), as Azure ML reuses a pipeline node. With a
``WarmStart``, the steps after the first one that runs start from a warm
interpreter when their command allows it (see ``warm_steps.py``).

Each step runs in a process group of its own, so a Ctrl-C in the terminal
reaches ``mlops`` alone and ``mlops`` decides: on KeyboardInterrupt (or a
SIGTERM the CLI turns into one) the whole group gets SIGINT, then SIGTERM,
then SIGKILL, each after a grace period, the step is recorded "Canceled"
and the run stops; no process of the step is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.pipeline_graph import Binding, PipelineGraph, Step
from mlops.state_files import open_file
from mlops.targets.base import Printer, StepRun
from mlops.targets.local.commands import CommandError, render_command
from mlops.targets.local.reuse import StepReuse
from mlops.targets.local.warm_steps import WarmProcess, WarmStart

FILE_TYPES = {"uri_file"}
LOG_FILE = "std_log.txt"
# How long an interrupted step gets after SIGINT, and then after SIGTERM.
GRACE_SECONDS = 5.0


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

    @property
    def canceled(self) -> bool:
        return any(step.status == "Canceled" for step in self.steps)


def run_steps(
    graph: PipelineGraph,
    inputs: Mapping[str, object],
    run_dir: Path,
    show: Printer,
    step_env: Callable[[Step], Mapping[str, str]],
    step_done: Callable[[Step, StepRun], None] = lambda step, result: None,
    reuse: StepReuse | None = None,
    warm: WarmStart | None = None,
) -> StepsResult:
    """Run every step of ``graph`` with the pipeline ``inputs``.

    ``step_env(step)`` gives each process its environment; ``step_done`` is
    called after each step; ``reuse`` finds and records reusable steps (None:
    every step runs); ``warm`` starts later steps warm (None: each with bash).
    Steps after a failure or an interruption are
    reported "NotStarted"; an interrupted step is "Canceled" (see the module
    docstring) and the interruption is not raised: the caller checks
    ``canceled``.
    """
    result = StepsResult()
    produced: dict[tuple[str, str], Path] = {}
    total = len(graph.steps)
    for index, step in enumerate(graph.steps, start=1):
        if not result.ok or result.canceled:
            result.steps.append(StepRun(step.name, "NotStarted"))
            continue
        try:
            step_run = _run_step(
                step,
                f"[{index}/{total}] {step.name}",
                inputs,
                produced,
                result,
                run_dir,
                show,
                step_env,
                reuse,
                warm,
                graph.steps[index:],
            )
        except KeyboardInterrupt:  # before or after the step's process ran
            step_run = StepRun(step.name, "Canceled")
        step_done(step, step_run)
        result.steps.append(step_run)
    return result


def _run_step(
    step, label, inputs, produced, result, run_dir, show, step_env, reuse, warm, later
) -> StepRun:
    show(f"{label}: {step.display_name}")
    values = _bind_inputs(step, inputs, produced)
    key = reuse.key(step, values) if reuse else None
    reused = reuse.find(key) if reuse else None
    if reused is not None:
        _publish(step, reused.outputs, produced, result)
        reuse.bound(key, reused.run_id, reused.outputs)
        show(f"{label} reused the outputs of run {reused.run_id} (same code, inputs, environment)")
        return StepRun(step.name, "Completed", log=reused.log, reused_from=reused.run_id)
    folder = run_dir / step.name
    outputs = _bind_outputs(step, folder / "outputs")
    _publish(step, outputs, produced, result)
    try:
        command = render_command(step.command, values, outputs)
    except CommandError as error:
        show(f"{label} cannot start: {error}")
        return StepRun(step.name, "Failed", exit_code=None)
    if warm is not None:
        warm.prepare(later)  # imports for the later steps while this one runs
    step_run = _execute(step, command, folder, step_env(step), show, warm)
    mark = {"Completed": "completed", "Canceled": "canceled"}.get(
        step_run.status, f"failed (exit code {step_run.exit_code})"
    )
    show(f"{label} {mark} in {step_run.seconds:.1f} s")
    if reuse:
        reuse.bound(key, reuse.run_id, outputs)
        if step_run.status == "Completed":
            reuse.record(key, outputs, step_run.log)
    return step_run


def _publish(step: Step, outputs: Mapping[str, Path], produced: dict, result: StepsResult) -> None:
    produced.update({(step.name, name): path for name, path in outputs.items()})
    for name, published in step.published.items():
        result.outputs[published] = str(outputs[name])


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
    step: Step,
    command: str,
    folder: Path,
    env: Mapping[str, str],
    show: Printer,
    warm: WarmStart | None = None,
) -> StepRun:
    log = folder / LOG_FILE
    started = time.perf_counter()
    cwd = Path(step.code or folder)
    with os.fdopen(open_file(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as log_file:
        process = warm.start(command, cwd, env) if warm is not None else None
        if process is None:
            process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=cwd,
                env=dict(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log_file.write(line)
                show(f"  {step.name} | {line.rstrip()}")
            code = process.wait()
            status = "Completed" if code == 0 else "Failed"
        except KeyboardInterrupt:
            code = stop_group(process)
            status = "Canceled"
            log_file.write(f"interrupted: the step's processes were stopped (exit code {code})\n")
        finally:
            process.stdout.close()
    return StepRun(
        name=step.name,
        status=status,
        seconds=round(time.perf_counter() - started, 3),
        exit_code=code,
        log=str(log),
    )


def stop_group(process: subprocess.Popen | WarmProcess, grace: float = GRACE_SECONDS) -> int:
    """Stop ``process`` and every process of its group: SIGINT, then SIGTERM, then
    SIGKILL, each after ``grace`` seconds while any of the group is left. Ctrl-C
    again while waiting goes straight to the next signal. Returns its exit code."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, number)
        deadline = time.monotonic() + grace
        try:
            while time.monotonic() < deadline and _group_alive(process):
                time.sleep(0.05)
        except KeyboardInterrupt:
            continue
        if not _group_alive(process):
            break
    return process.wait()


def _group_alive(process: subprocess.Popen | WarmProcess) -> bool:
    process.poll()  # reap the leader, so a zombie does not count
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True
