"""Single-row scoring on the local endpoint, against `mlflow models serve`.

Uses the model serving on the endpoint of mlops.yml (runs `mlops run` first
when nothing serves, `mlops endpoint start` when its processes have
stopped) and measures, one request at a time over a kept-alive connection
where the server allows it:

- endpoint: the scoring URL (router -> azureml-inference-server-http -> score.py);
- deployment: the serving deployment straight, without the router;
- baseline: `mlflow models serve --env-manager local` on the same model files,
  started here on a free port.

Rounds alternate between the three; the medians of latency (median and p99,
in ms) and of requests per second are printed, with the ratio of the
endpoint's requests per second to the baseline's. The target is at least 1.0.

    .venv/bin/python bench/endpoint_latency.py [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from mlops.deploy import request_body, smoke_rows  # noqa: E402
from mlops.settings import load_settings  # noqa: E402
from mlops.targets import get_target  # noqa: E402


def measure(url: str, body: bytes, requests: int) -> tuple[float, float, float]:
    """(median ms, p99 ms, requests per second) of ``requests`` sequential POSTs."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        begin = time.perf_counter()
        connection.request("POST", parts.path, body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"{url} answered HTTP {answer.status}")
        if answer.will_close:  # gunicorn's sync workers close after each answer
            connection.close()
        latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    connection.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return statistics.median(latencies) * 1000, p99 * 1000, requests / elapsed


def serving(settings):
    target = get_target(settings)
    endpoint = target.get_endpoint()
    if endpoint is None or endpoint.serving() is None:
        print("no model serving: running `mlops run` first", flush=True)
        subprocess.run([str(BIN / "mlops"), "run"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    elif not endpoint.scoring_uri or endpoint.serving().state != "Succeeded":
        print("the endpoint is not running: `mlops endpoint start`", flush=True)
        subprocess.run(
            [str(BIN / "mlops"), "endpoint", "start"],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    endpoint = target.get_endpoint()
    deployment = endpoint.serving()
    model = target.get_model(deployment.model.rpartition(":")[2])
    return target, endpoint, deployment, model


def start_mlflow(model_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return server, f"http://127.0.0.1:{port}/invocations"
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("mlflow models serve did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(REPO / "mlops.yml")
    target, endpoint, deployment, model = serving(settings)
    row = smoke_rows(target, settings, model).head(1)
    ours = request_body(row)
    theirs = json.dumps({"dataframe_split": json.loads(ours)["input_data"]}).encode()
    model_dir = Path(urlparse(model.source).path)
    server, baseline_url = start_mlflow(model_dir)
    cases = {
        "endpoint": (endpoint.scoring_uri, ours),
        "deployment": (deployment.scoring_uri, ours),
        "baseline (mlflow models serve)": (baseline_url, theirs),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
    try:
        for url, body in cases.values():
            measure(url, body, 50)  # warm up
        for round_ in range(1, args.rounds + 1):
            for name, (url, body) in cases.items():
                results[name].append(measure(url, body, args.requests))
            print(f"round {round_}/{args.rounds} done", flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    print(f"\nmodel {model.ref}: one row per request, {args.requests} requests x {args.rounds}")
    print(f"{'server':32} {'median ms':>10} {'p99 ms':>8} {'req/s':>8}")
    medians = {}
    for name, runs in results.items():
        median, p99, rps = (statistics.median(values) for values in zip(*runs, strict=True))
        medians[name] = rps
        print(f"{name:32} {median:10.2f} {p99:8.2f} {rps:8.0f}")
    ratio = medians["endpoint"] / medians["baseline (mlflow models serve)"]
    print(f"\nratio endpoint / baseline (req/s): {ratio:.2f} (target >= 1.0)")


if __name__ == "__main__":
    main()
