"""Fault sequences of the local endpoint, as a user meets them: leftovers of an
interrupted deploy, a failed deploy, killed servers, commands that overlap and
corrupt state. Everything runs for real (router, scoring servers); the commands
are `mlops.cli.main` in the project, or the `mlops` console script where two
must run at once.

One model is trained for the module and served (``served_project.served``); each
test starts from an endpoint that serves a champion and leaves one serving.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from mlops import lifecycle
from mlops.targets.local.endpoint import lock, processes
from tests.conftest import wait_until
from tests.mlops.served_project import (
    ENDPOINT,
    MLOPS,
    MODEL,
    assert_serves,
    cannot_be_loaded,
    champion_auc,
    cli,
    endpoint_processes,
    local,
    mlops,
    one_line_error,
    register_variant,
    sample,
    score,
    serving_version,
)

# What an interrupted deploy left behind is removed by the next command.


def test_a_deployment_that_never_took_traffic_is_removed_by_the_next_command(served):
    root = served.root
    _, target = local(root)
    before = target.get_endpoint()
    serving = before.serving()
    spare = "green" if serving.name == "blue" else "blue"
    # A deploy killed after its deployment was ready, before the swap.
    model = target.get_model(serving.model.rpartition(":")[2])
    target.create_deployment(spare, model, lambda line: None)
    marker = target.endpoint.server_marker(spare)
    assert processes.find(marker)

    code, out, err = mlops(root, "endpoint", "start")
    assert code == 0, out + err
    assert f"deployment {spare}: it never took traffic (an interrupted deploy); removing it" in out
    assert not processes.find(marker)
    after = target.get_endpoint()
    assert [d.name for d in after.deployments] == [serving.name]
    assert after.traffic == before.traffic
    assert_serves(root, model.version)


# A failed deploy keeps the evidence and the old deployment.


def test_a_failed_deploy_keeps_the_server_log_in_the_report_folder(served):
    root = served.root
    settings, target = local(root)
    champion = serving_version(root)
    serving = target.get_endpoint().serving().name
    spare = "green" if serving == "blue" else "blue"
    broken = register_variant(
        root, served.run, "unloadable", champion_auc(root) + 0.05, change=cannot_be_loaded
    )

    code, out, err = mlops(root, "deploy", broken.version)
    assert code == 1
    log = lifecycle.report_folder(settings, broken.run_id) / f"deployment-{spare}.log"
    assert "the scoring server exited" in err
    assert f"its server log is kept in {log}" in err
    assert f"deployment {spare}: failed; the endpoint keeps its traffic" in out
    assert log.is_file() and log.stat().st_size > 0
    assert not (target.endpoint.folder / "deployments" / spare).exists()
    assert not processes.find(target.endpoint.server_marker(spare))
    assert_serves(root, champion)


# The router restarts a server that died, with no command run.


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def test_a_killed_server_comes_back_by_itself_and_the_outage_is_a_503(served):
    root = served.root
    _, target = local(root)
    endpoint = target.get_endpoint()
    serving = endpoint.serving()
    marker = target.endpoint.server_marker(serving.name)
    pids = processes.find(marker)
    (master,) = [pid for pid in pids if parent_of(pid) not in pids]
    body = sample(root)
    answers: list[tuple[float, int, dict]] = []
    done = threading.Event()

    def client():
        while not done.is_set():
            status, answer = score(endpoint.scoring_uri, body)
            answers.append((time.monotonic(), status, answer))
            time.sleep(0.02)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        wait_until(lambda: answers and answers[-1][1] == 200)
        killed = time.monotonic()
        os.kill(master, signal.SIGKILL)
        # The outage shows, then ends without anyone running a command.
        wait_until(lambda: any(t > killed and s != 200 for t, s, _ in answers))
        wait_until(lambda: answers[-1][1] == 200 and answers[-1][0] > killed)
    finally:
        done.set()
        thread.join()
    outage = [(status, answer) for t, status, answer in answers if t > killed and status != 200]
    assert {status for status, _ in outage} == {503}, outage[:5]
    assert all(answer.get("message") for _, answer in outage), outage[:5]
    assert processes.find(marker) and master not in processes.find(marker)
    assert target.get_endpoint().serving().state == "Succeeded"


# Two commands at once: the second waits for the first, within a bound.


def slow_upload(port: int, body: bytes, seconds: float) -> tuple[int, dict]:
    """POST ``body`` to the endpoint, its headers first and the body over ``seconds``."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(
            (
                f"POST /score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        pieces = 10
        size = -(-len(body) // pieces)
        for start in range(0, len(body), size):
            time.sleep(seconds / pieces)
            conn.sendall(body[start : start + size])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


SECOND_DEPLOY = """
import sys
import mlflow.tracking, mlops.lifecycle, mlops.targets.local.registry
from mlops.cli import main
print("imported", flush=True)
sys.stdin.readline()
sys.exit(main(["deploy", sys.argv[1]]))
"""


def test_a_second_deploy_waits_for_the_first_and_a_slow_upload_survives_the_swap(served):
    root = served.root
    settings, target = local(root)
    before = serving_version(root)
    newer = register_variant(root, served.run, "concurrent", champion_auc(root) + 0.01)
    body = sample(root)
    uploaded: list[tuple[int, dict]] = []
    upload = threading.Thread(
        target=lambda: uploaded.append(slow_upload(settings.local.endpoint_port, body, 3.0))
    )

    # The second deploy starts first and imports everything, then waits for a word.
    # The first is paused once it holds the lock, and goes on only when the second
    # says it waits for it: the order is made by events, whatever the machine's load.
    second = subprocess.Popen(
        [sys.executable, "-c", SECOND_DEPLOY, newer.version],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = None
    try:
        assert second.stdout.readline() == "imported\n"
        first = subprocess.Popen(
            [MLOPS, "deploy", newer.version],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(
            lambda: (
                f"pid {first.pid} " in (lock.holder(target.endpoint.lock_path) or "")
                or first.poll() is not None
            ),
            what="the first deploy to take the endpoint lock",
        )
        assert first.poll() is None, first.communicate()[0]
        os.kill(first.pid, signal.SIGSTOP)
        second.stdin.write("go\n")
        second.stdin.flush()
        waited = ""
        for line in second.stdout:
            waited += line
            if line.startswith(f"waiting for endpoint {ENDPOINT}: locked by pid {first.pid} "):
                break
        os.kill(first.pid, signal.SIGCONT)
        lines = []
        for line in first.stdout:  # the upload starts as the new deployment is ready
            lines.append(line)
            if ": ready in " in line:
                upload.start()
                break
        lines += first.stdout.readlines()
        assert first.wait(120) == 0, "".join(lines)
        upload.join(60)
        waited += second.communicate(timeout=120)[0]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
                process.communicate()
    deployed = "".join(lines)
    assert "takes 100 % of traffic" in deployed and "failed" not in deployed
    assert f"replacing {MODEL}:{before}" in deployed
    assert uploaded and uploaded[0][0] == 200, uploaded
    assert len(uploaded[0][1]["probabilities"]) == 2
    assert second.returncode == 0, waited
    assert (
        f"waiting for endpoint {ENDPOINT}: locked by pid {first.pid} "
        f"(`mlops deploy {newer.version}`" in waited
    )
    assert f"{newer.ref} was already serving" in waited
    assert_serves(root, newer.version)


def test_a_command_waits_for_the_lock_only_as_long_as_the_settings_say(served):
    root = served.root
    _, target = local(root)
    impatient = root / "impatient.yml"
    settings = yaml.safe_load((root / "mlops.yml").read_text())
    settings["endpoint"]["lock_wait_seconds"] = 0.5
    impatient.write_text(yaml.safe_dump(settings))
    shown: list[str] = []
    started = time.monotonic()
    with target.endpoint_lock(shown.append):
        code, out, err = cli(impatient, "endpoint", "start")
    assert code == 1
    assert time.monotonic() - started < 10
    assert f"waiting for endpoint {ENDPOINT}: locked by pid {os.getpid()} (" in out
    refused = one_line_error(err)
    assert f"endpoint {ENDPOINT} is locked by pid {os.getpid()} (" in refused
    assert "waited 0.5 s (endpoint.lock_wait_seconds)" in refused
    assert target.get_endpoint().serving() is not None


# Corrupt state: read from its copy at the newest revision, or stopped by marker.


def test_corrupt_endpoint_state_is_recovered_or_stopped_completely(served):
    root = served.root
    _, target = local(root)
    champion = serving_version(root)
    state = target.endpoint.state
    state.path.write_bytes(b"")

    code, shown, err = mlops(root, "endpoint", "show")
    assert code == 0, err
    assert f"{MODEL}:{champion}  100 %" in shown
    status, _ = score(target.get_endpoint().scoring_uri, sample(root))
    assert status == 200

    state.path.write_bytes(b'{"revision": ')
    state.copy.write_bytes(b"not json")
    code, _, err = mlops(root, "endpoint", "show")
    assert code == 1
    assert "unreadable, and so is its copy endpoint.json.copy" in one_line_error(err)
    assert endpoint_processes(root)  # the router and the server still run

    code, out, err = mlops(root, "endpoint", "stop")
    assert code == 0, out + err
    assert f"endpoint {ENDPOINT} stopped" in out
    assert not endpoint_processes(root)
    assert not processes.find(target.endpoint.router_marker)
    assert not target.endpoint.folder.exists()

    code, out, err = mlops(root, "run")
    assert code == 0, out + err
    assert f"nothing serves: deploying champion {champion} again" in out
    assert_serves(root, champion)
