"""The local target's pipeline runs: what step processes get, and Ctrl-C."""

import json
import signal
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from mlops import lifecycle
from mlops.settings import load_settings
from mlops.targets import get_target
from mlops.targets.local.endpoint import processes
from tests.conftest import STATE, wait_until

MLOPS = str(Path(sys.executable).parent / "mlops")
SECRETS = {"AZURE_CLIENT_SECRET": "planted-client-secret", "GITHUB_TOKEN": "planted-token"}


def test_a_step_gets_the_mlflow_contract_and_none_of_the_callers_secrets(project, monkeypatch):
    # The first step writes the environment it got and stops the run: no training needed.
    component = project / "pipelines" / "components" / "prep.yml"
    component.write_text(
        component.read_text().replace("python prep.py", "env > step_env.txt && exit 9 && python")
    )
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(project / "mlops.yml")
    target = get_target(settings)
    lifecycle.register_data(target, settings)
    run = lifecycle.train(target, settings, lambda line: None)
    assert next((s.name, s.status, s.exit_code) for s in run.steps) == ("prep", "Failed", 9)
    env = dict(
        line.split("=", 1)
        for line in (project / "pipelines" / "src" / "step_env.txt").read_text().splitlines()
        if "=" in line
    )
    assert not set(SECRETS) & set(env)
    assert not any(value in text for value in SECRETS.values() for text in env.values())
    assert env["MLFLOW_TRACKING_URI"].startswith("sqlite:///")
    assert json.loads(env["MLFLOW_RUN_CONTEXT"])["mlops.step"] == "prep"


def as_from_a_terminal() -> None:
    """In the child, before `mlops` starts: SIGINT and SIGTERM handled by default and
    not blocked, as a shell in a terminal starts a command, whatever disposition or
    mask the test worker's own process has come to hold (both survive exec)."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def signal_state(pid: int) -> str:
    """The blocked, ignored and caught signal masks of ``pid``, for a failure message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "(gone)"
    return " ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def train_until(project: Path, line_start: str) -> subprocess.Popen:
    """Start `mlops train` on freshly registered data; return once it printed a
    line starting with ``line_start``."""
    assert subprocess.run([MLOPS, "register-data"], cwd=project, check=False).returncode == 0
    train = subprocess.Popen(
        [MLOPS, "train"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    assert train.stdout is not None
    for line in train.stdout:
        if line.startswith(line_start):
            return train
    raise AssertionError(f"train ended before printing {line_start!r}")


def canceled_run(project: Path, train: subprocess.Popen) -> tuple[dict, str]:
    """Wait for the interrupted ``train``; return its run record and its output."""
    signals = signal_state(train.pid)
    rest = train.stdout.read()
    assert train.wait(60) == 130, f"signal masks of mlops: {signals}\n{rest}"
    (record,) = (project / STATE / "runs").glob("*/run.json")
    run = json.loads(record.read_text())
    assert run["status"] == "Canceled"
    # No step process is left: every one of them has the project in its arguments.
    wait_until(lambda: not processes.find(str(project), prefix=True), seconds=5)
    return run, rest


def test_ctrl_c_during_a_step_stops_it_and_records_the_run_as_canceled(project):
    # A train step that says when it runs, then takes its time (the sample's takes a
    # second): the signal is sent on that event, while the step surely runs.
    script = project / "pipelines" / "src" / "train.py"
    started = project / "train-started"
    text = script.read_text().replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nimport pathlib\nimport time\n\n"
        f"pathlib.Path({str(started)!r}).touch()\ntime.sleep(300)\n",
        1,
    )
    script.write_text(text)
    train = train_until(project, "[2/3] train:")
    wait_until(started.exists, what="the train step to start")
    # As in a terminal, only mlops gets the signal: the step runs in a session of its own.
    train.send_signal(signal.SIGINT)
    run, output = canceled_run(project, train)
    assert "interrupted" in output and "train canceled" in output
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("prep", "Completed"),
        ("train", "Canceled"),
        ("evaluate", "NotStarted"),
    ]
    client = MlflowClient(f"sqlite:///{project / STATE}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("credit-default").experiment_id])
    assert {r.info.run_name: r.info.status for r in runs} == {
        run["run_id"]: "KILLED",
        "prep": "FINISHED",
        "train": "KILLED",
    }
    children = [r for r in runs if r.info.run_name != run["run_id"]]
    assert all(r.data.tags.get("mlflow.parentRunId") == run["tracking_run_id"] for r in children)
    listing = subprocess.run([MLOPS, "runs"], cwd=project, capture_output=True, text=True)
    assert listing.stdout.count("Canceled") == 1


def test_sigterm_from_a_ci_runner_cancels_the_run_as_ctrl_c_does(project):
    train = train_until(project, "[1/3] prep:")
    train.send_signal(signal.SIGTERM)
    run, _ = canceled_run(project, train)
    assert run["steps"][0]["status"] == "Canceled"
