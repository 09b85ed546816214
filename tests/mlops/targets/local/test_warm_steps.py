"""Steps started from the warm interpreter: what the script sees, its output and exit
code are those of `python script` run by bash; its own modules are read afresh each
time; Ctrl-C stops its whole group; what the shell must read runs with bash."""

import json
import signal
import subprocess
from pathlib import Path

import pytest

from mlops.pipeline_graph import Step
from mlops.targets.local.child_env import child_env
from mlops.targets.local.steps import stop_group
from mlops.targets.local.warm_steps import WarmStart, imported_modules, script_command
from tests.conftest import wait_until

SCRIPT = """\
from __future__ import annotations

import json
import os
import sys

import numpy as np

from helper import WORD

print(json.dumps({
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "path0": sys.path[0],
    "name": __name__,
    "file": __file__,
    "word": WORD,
}))
print("random", np.random.randint(1 << 30), file=sys.stderr)
sys.exit(3)
"""

WAITS = """\
import subprocess, sys, time
helper = subprocess.Popen(["sleep", "300"])
print(helper.pid, flush=True)
time.sleep(300)
"""


def step(code: Path, command: str) -> Step:
    return Step("show", "show", command, code, {}, {}, {})


@pytest.fixture
def code(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "show.py").write_text(SCRIPT)
    (folder / "helper.py").write_text('WORD = "first"\n')
    (folder / "waits.py").write_text(WAITS)
    return folder


def warm_run(warm: WarmStart, command: str, cwd: Path, env) -> tuple[int, str]:
    process = warm.start(command, cwd, env)
    assert process is not None, "started with bash, not warm"
    output = process.stdout.read()
    process.stdout.close()
    return process.wait(), output


def test_a_warm_step_sees_and_does_what_python_run_by_bash_would(code):
    command = "python show.py --out 'a folder/x' 7"
    env = child_env({"MLFLOW_RUN_CONTEXT": '{"step": "show"}'})
    cold = subprocess.run(
        ["bash", "-c", command], cwd=code, env=env, capture_output=True, text=True
    )
    with WarmStart(child_env(), label=str(code)) as warm:
        warm.prepare([step(code, command)])
        code_first, first = warm_run(warm, command, code, env)
        # The step's own module is read again by the next step, never preloaded.
        (code / "helper.py").write_text('WORD = "second"\n')
        code_second, second = warm_run(warm, command, code, env)

    assert cold.returncode == code_first == code_second == 3
    seen = [json.loads(output.splitlines()[0]) for output in (cold.stdout, first, second)]
    assert seen[0] == seen[1] == {**seen[2], "word": "first"}
    assert seen[0]["argv"] == ["show.py", "--out", "a folder/x", "7"]
    # The step's environment, and what bash adds to it, nothing of the caller's.
    assert seen[0]["env"] == {**env, "PWD": str(code), "SHLVL": "0", "_": seen[0]["env"]["_"]}
    assert seen[2]["word"] == "second"
    # A fresh interpreter's random numbers, not the warm one's over again.
    randoms = [output.splitlines()[-1] for output in (cold.stderr, first, second)]
    assert len(set(randoms)) == 3


def test_the_scripts_imports_are_preloaded_but_not_its_own_modules(code):
    assert imported_modules(code / "show.py") == ["json", "os", "sys", "numpy"]


def test_an_interrupted_warm_step_stops_with_its_whole_group(code):
    with WarmStart(child_env(), label=str(code)) as warm:
        warm.prepare([step(code, "python waits.py")])
        process = warm.start("python waits.py", code, child_env())
        assert process is not None
        helper = int(process.stdout.readline())
        # What the step runner does on Ctrl-C: SIGINT to the group, then more.
        assert stop_group(process, grace=5) == -signal.SIGINT
        process.stdout.close()
    assert not Path(f"/proc/{helper}").exists() or " Z " in Path(f"/proc/{helper}/stat").read_text()


@pytest.mark.parametrize(
    "command",
    [
        "python show.py | tee log",
        "python show.py $HOME",
        'python show.py "$HOME"',
        "DEBUG=1 python show.py",
        "python -u show.py",
        "python show.py; echo done",
        "cd .. && python show.py",
        "python show.py > out.txt",
        "bash run.sh",
    ],
)
def test_a_command_the_shell_has_work_in_runs_with_bash(command):
    assert script_command(command) is None


def test_quoted_values_are_plain_words():
    assert script_command("python3 show.py --path '/a b/$HOME;x' 'it'\"'\"'s'") == [
        "python3",
        "show.py",
        "--path",
        "/a b/$HOME;x",
        "it's",
    ]


def test_an_environment_whose_interpreter_variables_differ_runs_with_bash(code):
    with WarmStart(child_env(), label=str(code)) as warm:
        warm.prepare([step(code, "python show.py")])
        assert warm.start("python show.py", code, {**child_env(), "PYTHONPATH": "/x"}) is None
        assert warm.start("python show.py", code, {**child_env(), "OMP_NUM_THREADS": "7"}) is None
        assert warm.start("/bin/python3 show.py", code, child_env()) is None
        process = warm.start("python show.py", code, child_env())
        assert process is not None
        process.stdout.read()
        process.stdout.close()
        assert process.wait() == 3


def test_no_warm_interpreter_starts_for_steps_that_cannot_use_it(code):
    with WarmStart(child_env()) as warm:
        warm.prepare([step(code, "echo ${{inputs.word}} > out.txt")])
        assert warm.start("python show.py", code, child_env()) is None


def test_a_step_whose_caller_went_away_is_stopped_with_the_warm_interpreter(code):
    # What the warm interpreter sees when `mlops` is killed mid-step: its socket closes.
    warm = WarmStart(child_env(), label=str(code))
    warm.prepare([step(code, "python waits.py")])
    process = warm.start("python waits.py", code, child_env())
    assert process is not None
    helper = int(process.stdout.readline())
    warm.close()
    process.stdout.close()
    # A killed process may still be on its way out (state R) for a moment: wait for it.
    for pid in (process.pid, helper):
        wait_until(lambda pid=pid: ended(pid), seconds=30, what=f"process {pid} to end")


def ended(pid: int) -> bool:
    """Whether ``pid`` is gone or a zombie (ended, not yet reaped)."""
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
