"""Fault sequences on the local target, as a user meets them: stopped and lost
endpoints, a reset registry, corrupt state, killed servers and deploys, broken
models and commands that overlap. Everything runs for real (pipeline, MLflow
registry, router, scoring servers); the commands are `mlops.cli.main` in the
project, or the `mlops` console script where two must run at once.

One model is trained for the module and served; each test starts from an
endpoint that serves a champion and leaves one serving (the registry reset
comes last: it is the one change the others could not build on).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlops import audit_trail, lifecycle, promotion
from mlops.audit import OVERRIDE_TAG
from mlops.cli import main
from mlops.gate import decide
from mlops.settings import load_settings
from mlops.summary import describe_endpoint
from mlops.targets import get_target
from mlops.targets.base import ROLLBACK_TAG, Endpoint
from mlops.targets.local.endpoint import LocalEndpoint, lock, processes
from tests.conftest import STATE, copy_project, make_project, save_variant_run, wait_until

MLOPS = str(Path(sys.executable).parent / "mlops")
MODEL = "credit-default-classifier"
ENDPOINT = "credit-default"


def cli(settings_file: Path, *args: str) -> tuple[int, str, str]:
    """Run `mlops ARGS` with ``settings_file``; the exit code, standard output and error."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--settings", str(settings_file), *args])
    return code, out.getvalue(), err.getvalue()


def mlops(root: Path, *args: str) -> tuple[int, str, str]:
    return cli(root / "mlops.yml", *args)


def console(root: Path, *args: str) -> tuple[int, str, str]:
    """Run the `mlops` console script in ``root``, in a process of its own."""
    done = subprocess.run(
        [MLOPS, *args], cwd=root, capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode, done.stdout, done.stderr


def one_line_error(err: str) -> str:
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err.strip()


def local(root: Path):
    settings = load_settings(root / "mlops.yml")
    return settings, get_target(settings)


def stop_everything(root: Path) -> None:
    """Stop every process of every endpoint under ``root``, whatever its state files say."""
    endpoints = root / STATE / "endpoints"
    for folder in endpoints.glob("*/"):
        LocalEndpoint(endpoints, folder.name, 0).delete()
    processes.stop(str(endpoints) + "/", prefix=True, grace=2)


def endpoint_processes(root: Path) -> list[int]:
    return processes.find(str(root / STATE / "endpoints" / ENDPOINT) + "/", prefix=True)


def score(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def sample(root: Path) -> bytes:
    """The scoring request of two test rows the last deploy wrote."""
    settings, _ = local(root)
    return lifecycle.sample_request(settings).read_bytes()


def assert_serves(root: Path, version: str) -> None:
    """The endpoint serves ``version`` with all its traffic, and a scoring request gets 200."""
    _, target = local(root)
    endpoint = target.get_endpoint()
    assert endpoint is not None
    assert endpoint.serving().model == f"{MODEL}:{version}"
    assert endpoint.traffic == {endpoint.serving().name: 100}
    status, answer = score(endpoint.scoring_uri, sample(root))
    assert status == 200, answer
    assert len(answer["probabilities"]) == 2


def serving_version(root: Path) -> str:
    _, target = local(root)
    return target.get_endpoint().serving().model.rpartition(":")[2]


def champion_alias(root: Path) -> str:
    """The version MLflow's registry names ``models:/<name>@champion``."""
    _, target = local(root)
    return str(target.registry.client.get_model_version_by_alias(MODEL, "champion").version)


def champion_auc(root: Path) -> float:
    _, target = local(root)
    return promotion.champion(target).metrics["auc"]


def register_variant(root: Path, source, name: str, auc: float, change=None):
    """Register in ``root``'s registry a copy of run ``source``'s model (changed by
    ``change``) as if a run had measured ``auc``; gated against the champion of the moment."""
    settings, target = local(root)
    variant = save_variant_run(target, settings, source, name, auc, change)
    decision = decide(variant.metrics, promotion.champion(target), settings.gate)
    return promotion.register(target, settings, variant, decision)


def cannot_be_loaded(model_dir: Path) -> None:
    (model_dir / "model.skops").write_bytes(b"not a model")


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained_template):
    """A copy of the session's trained project whose run was registered as version 1,
    promoted and deployed."""
    root = copy_project(trained_template, tmp_path_factory.mktemp("fail-closed"))
    try:
        code, out, err = mlops(root, "register", "latest")
        assert code == 0, out + err
        code, out, err = mlops(root, "deploy", "1")
        assert code == 0, out + err
        assert f"deployed {MODEL}:1 to deployment blue" in out
        _, target = local(root)
        yield SimpleNamespace(root=root, run=target.get_run(target.get_model("1").run_id))
    finally:
        stop_everything(root)
    assert not endpoint_processes(root)


# A stopped endpoint never lets a rejected model through, and `run` serves again.


def test_a_run_after_the_endpoint_was_stopped_is_gated_against_the_version_deployed_last(
    served,
):
    root = served.root
    champion = serving_version(root)
    code, out, err = mlops(root, "endpoint", "stop")
    assert code == 0, err
    assert f"endpoint {ENDPOINT} stopped" in out
    assert not endpoint_processes(root)

    # The same data, code and seed: a model merely as good as the champion (its
    # evaluate step asked for SHAP values too, which change nothing else).
    own = root / "models" / "credit-default" / "mlops.yml"
    settings = own.read_text()
    with_shap = yaml.safe_load(settings)
    with_shap["pipeline"]["shap_rows"] = 50
    own.write_text(yaml.safe_dump(with_shap, sort_keys=False))
    try:
        code, out, err = mlops(root, "run")
    finally:
        own.write_text(settings)
    assert code == 0, out + err
    _, target = local(root)
    newest = target.list_models()[0]
    code, card, _ = mlops(root, "card", newest.version)
    assert code == 0
    (shap,) = [line for line in card.splitlines() if line.startswith("SHAP values")]
    assert shap.startswith("SHAP values (mean |value| on the log-odds of the positive class, 50")
    assert "PAY_0" in shap
    assert f"model {newest.ref} registered; gate: reject" in out
    assert f"gate: REJECT (against champion {champion}; the version deployed last (" in out
    assert f"nothing serves now: endpoint {ENDPOINT} does not exist" in out
    assert "not higher by 0.001" in out
    assert f"nothing serves: deploying champion {champion} again" in out
    assert "the endpoint serves again its champion" in out
    assert f"deployed {MODEL}:{champion} to deployment" in out

    code, shown, _ = mlops(root, "endpoint", "show")
    assert code == 0
    assert f"{MODEL}:{champion}  100 %" in shown
    assert newest.ref not in shown
    assert_serves(root, champion)


# `mlops deploy` gates again; --rollback only returns to a version that served.


def test_deploy_gates_again_and_a_rollback_only_returns_to_a_version_that_served(served, tmp_path):
    root = served.root
    champion = serving_version(root)
    recorded_before = len(audit_trail.read(local(root)[1].audit).events)
    auc = champion_auc(root)
    as_good = register_variant(root, served.run, "as-good", auc)

    code, _, err = mlops(root, "deploy", as_good.version)
    assert code == 3
    refused = one_line_error(err)
    assert f"model {as_good.ref} does not pass the gate against champion {champion}" in refused
    assert "not higher by 0.001" in refused
    assert "--rollback" not in refused  # it never served: nothing to return to

    code, _, err = mlops(root, "deploy", as_good.version, "--rollback", "it looked fine")
    assert code == 1
    assert f"model {as_good.ref} never served on endpoint {ENDPOINT}" in one_line_error(err)
    assert_serves(root, champion)

    better = register_variant(root, served.run, "better", auc + 0.01)
    code, out, err = mlops(root, "deploy", better.version)
    assert code == 0, out + err
    assert f"gate: PROMOTE {better.ref} (against champion {champion})" in out
    assert_serves(root, better.version)
    assert champion_alias(root) == better.version

    # The old champion no longer beats the new one: only an explicit rollback returns to it.
    code, _, err = mlops(root, "deploy", champion)
    assert code == 3
    refused = one_line_error(err)
    assert f"does not pass the gate against champion {better.version}" in refused
    assert "to return to it anyway, pass --rollback REASON" in refused
    code, _, err = mlops(root, "deploy", champion, "--rollback", "  ")
    assert code == 1
    assert "--rollback needs a reason" in one_line_error(err)

    code, out, err = mlops(root, "deploy", champion, "--rollback", "worse on live traffic")
    assert code == 0, out + err
    assert f"deployed {MODEL}:{champion} to deployment" in out
    assert f"replacing {better.ref}" in out
    _, target = local(root)
    assert target.get_model(champion).tags[ROLLBACK_TAG].endswith(": worse on live traffic")
    assert ROLLBACK_TAG not in target.get_model(better.version).tags
    assert promotion.champion(target).version == champion
    assert champion_alias(root) == champion
    assert_serves(root, champion)

    # A human may replace the champion past the gate: with a reason, recorded with who.
    code, _, err = mlops(root, "deploy", as_good.version, "--override-gate", "")
    assert code == 1
    assert "--override-gate needs a reason" in one_line_error(err)
    assert_serves(root, champion)
    code, out, err = mlops(root, "deploy", as_good.version, "--override-gate", "fixes a bad tail")
    assert code == 0, out + err
    assert f"gate: REJECT, overridden (--override-gate) {as_good.ref}" in out
    assert "smoke test passed" in out
    _, target = local(root)
    recorded = target.get_model(as_good.version).tags[OVERRIDE_TAG]
    assert " by " in recorded and recorded.endswith(": fixes a bad tail")
    assert_serves(root, as_good.version)

    # The audit trail: each change to what serves, with its reason, then a promotion.
    code, out, err = mlops(root, "promote", champion)
    assert code == 0, out + err
    events = audit_trail.read(target.audit).events[recorded_before:]
    assert [(e["action"], e["version"], e["why"]) for e in events] == [
        ("deploy", better.ref, "gate: promote"),
        ("rollback", f"{MODEL}:{champion}", "rollback: worse on live traffic"),
        ("deploy", as_good.ref, "gate: reject; gate overridden: fixes a bad tail"),
        ("promote", f"{MODEL}:{champion}", "gate: promote"),
    ]
    assert events[1]["replaced"] == better.ref and events[3]["registry"].startswith("registry:")
    assert all(e["who"] and e["environment"] == "default" for e in events)
    # It survives the loss of the endpoint's state: a copy without it shows the same.
    code, shown, _ = mlops(root, "audit")
    assert code == 0
    assert "rollback" in shown and "worse on live traffic" in shown
    lost = tmp_path / "lost"
    shutil.copytree(root, lost, ignore=shutil.ignore_patterns("endpoints"))
    assert not (lost / STATE / "endpoints").exists()
    code, again, _ = mlops(lost, "audit")
    assert code == 0 and again == shown

    # The model card of the version rolled back to and promoted: all of it, and the
    # copy stored with its run is the card of now (updated by the promotion).
    code, card, err = mlops(root, "card", champion)
    assert code == 0, err
    for part in (
        f"# Model card: {MODEL}:{champion}",
        "**Kind:** binary-classification: a label of two values",
        "**Intended use:** Rank the credit-card accounts of the sample by the risk",
        "**Limitations:** Trained on 30,000 credit card clients in Taiwan",
        "## Data",
        "rows, classes 0, 1, SHA-256",
        "Target `default_payment_next_month`; sensitive column `SEX`; features: LIMIT_BAL",
        "| auc |",
        "Gate: **promote** against champion none",
        "- threshold auc: auc 0.",
        "## Fairness by group",
        "| group |",
        "Permutation importance (roc_auc):",
        "1. PAY_0: ",
        f"run `{served.run.run_id}`, pipeline `pipelines/train.yml`",
        "rollback (blue) by ",
        "rollback: worse on live traffic",
        "promote (-) by ",
    ):
        assert part in card, part
    tracking = served.run.tracking_run_id
    client = MlflowClient(f"sqlite:///{root / STATE / 'mlflow.db'}")
    stored = Path(client.download_artifacts(tracking, "card/model_card.md", str(tmp_path)))
    assert stored.read_text() == card


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
    settings["defaults"]["endpoint"]["lock_wait_seconds"] = 0.5  # the model sets none
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


# A reset registry: no number reused, no model taken for the one serving.


def test_after_a_registry_reset_the_gate_fails_closed_and_no_number_is_reused(served):
    root = served.root
    champion = serving_version(root)
    os.remove(root / STATE / "mlflow.db")
    shutil.rmtree(root / STATE / "mlartifacts", ignore_errors=True)

    # In a process of its own: this one keeps the deleted store open.
    code, out, err = console(root, "run")
    assert code == 0, out + err
    (version,) = re.findall(rf"model {MODEL}:(\d+) registered; gate: reject", out)
    assert int(version) > int(champion)
    assert (
        f"champion {champion}: metrics unreadable (the registry has no such version "
        "(was it reset?))" in out
    )
    assert "deploying champion" not in out
    assert "the endpoint keeps serving its champion" in out

    code, listed, _ = console(root, "models", "versions")
    assert code == 0
    (row,) = listed.splitlines()[2:]
    assert row.split()[:2] == [version, "reject"]
    assert not row.rstrip().endswith("serving")
    assert_serves(root, champion)


# A first deploy that fails leaves no endpoint behind.


def test_a_failed_first_deploy_leaves_no_endpoint(served, tmp_path):
    fresh = make_project(tmp_path)
    try:
        broken = register_variant(
            fresh, served.run, "first-broken", served.run.metrics["auc"], change=cannot_be_loaded
        )
        assert broken.version == "1"
        code, _, err = mlops(fresh, "deploy", "1")
        assert code == 1
        assert "the scoring server exited" in err
        assert not endpoint_processes(fresh)

        code, shown, err = mlops(fresh, "endpoint", "show")
        assert code == 0, err
        assert f"endpoint {ENDPOINT}: not created yet" in shown
        code, _, err = mlops(fresh, "endpoint", "start")
        assert code == 1
        assert f"endpoint {ENDPOINT} does not exist; deploy a model with" in one_line_error(err)
    finally:
        stop_everything(fresh)


def test_an_endpoint_without_deployments_is_shown_not_a_crash():
    # What a first deploy killed before it removed its endpoint leaves.
    shown = describe_endpoint(Endpoint(ENDPOINT, "", {}, ()), ENDPOINT)
    assert shown.startswith(f"endpoint {ENDPOINT}: (not running")
    assert "deployment  model" in shown
