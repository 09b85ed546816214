"""Single-row scoring on the local endpoint, against `mlflow models serve`.

Trains and deploys the sample with `mlops run` in a throw-away copy of the
project (``scratch.py``: nothing reaches the user's own runs or endpoint),
then measures, one request at a time over a kept-alive connection where the
server allows it:

- endpoint: the scoring URL (router -> azureml-inference-server-http -> score.py),
  its deployment collecting each request's inputs and outputs (the data
  collector, as the repository's deployment file declares it);
- endpoint without collection: the same in a second copy of the project whose
  deployment file has no ``data_collector``;
- deployment: the serving deployment straight, without the router;
- baseline: `mlflow models serve --env-manager local` on the same model files,
  started here on a free port, with the OpenMP threads of a deployment's
  worker (``OMP_NUM_THREADS``, as ``servers.py`` sets it), so both run the
  model alike.

Rounds alternate between the three; the medians over rounds of latency
(median and p99, in ms) and of requests per second are printed, with their
spread (lowest-highest), and the two targets: the endpoint's p99 at most
1.5x its median, its requests per second at least 1.5x the baseline's, and
its median at most 1.10x the one without collection.
Beside them, the machine's own tail: a CPU-bound loop as long as the
endpoint's median request, in this process, with no I/O. Where that loop's
p99 is already over 1.5x its median (a machine shared with other work), no
server on it meets the tail target: compare on a quiet machine. Exits 1
when a target is missed, unless ``--report-only``.

    .venv/bin/python bench/endpoint_latency.py [--requests 1000] [--rounds 3] [--report-only]
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
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import scratch
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from mlops.deploy import request_body, smoke_rows  # noqa: E402
from mlops.deployment_spec import load_deployment_spec  # noqa: E402
from mlops.settings import load_settings  # noqa: E402
from mlops.targets import get_target  # noqa: E402
from mlops.targets.local.endpoint.servers import worker_count  # noqa: E402


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


def spin(turns: int) -> int:
    total = 0
    for turn in range(turns):
        total += turn
    return total


def machine_tail(milliseconds: float, samples: int) -> tuple[float, float, float]:
    """(median ms, p99 ms, runs per second) of a CPU-bound loop calibrated to take
    ``milliseconds``: what the machine itself adds to a request's tail."""
    started = time.perf_counter()
    spin(200_000)
    turns = max(1, int(200_000 * milliseconds / 1000 / (time.perf_counter() - started)))
    durations = []
    for _ in range(samples):
        begin = time.perf_counter()
        spin(turns)
        durations.append(time.perf_counter() - begin)
    durations.sort()
    p99 = durations[min(samples - 1, int(samples * 0.99))]
    return statistics.median(durations) * 1000, p99 * 1000, samples / sum(durations)


def serving(root: Path):
    """Train and deploy the project in ``root``; its settings, target, endpoint,
    serving deployment and model."""
    print("training and deploying the sample in a throw-away project (`mlops run`)", flush=True)
    subprocess.run([scratch.MLOPS, "run"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    settings = load_settings(root / "mlops.yml")
    target = get_target(settings)
    endpoint = target.get_endpoint()
    deployment = endpoint.serving()
    model = target.get_model(deployment.model.rpartition(":")[2])
    return settings, target, endpoint, deployment, model


MACHINE = "machine (CPU loop, no I/O)"
TAIL_TARGET = 1.5  # p99 / median of the endpoint, at most
THROUGHPUT_TARGET = 1.5  # endpoint / baseline requests per second, at least
COLLECTION_TARGET = 1.10  # endpoint median with collection / without, at most
UNCOLLECTED = "endpoint without collection"


def worker_threads(variables: dict) -> str:
    """The OpenMP threads of one of the deployment's workers (as servers.py sets them)."""
    workers = worker_count(variables)
    return variables.get("OMP_NUM_THREADS") or os.environ.get(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers))
    )


def start_mlflow(model_dir: Path, threads: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    env["OMP_NUM_THREADS"] = threads
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    scratch.report_only_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        root = scratch.project(Path(folder) / "project")
        uncollected = without_collection(scratch.project(Path(folder) / "uncollected"))
        try:
            tail, ratio, collection = compare(root, uncollected, args.requests, args.rounds)
        finally:
            scratch.stop_endpoint(root)
            scratch.stop_endpoint(uncollected)
    missed = []
    if collection > COLLECTION_TARGET:
        missed.append(f"median with / without collection {collection:.2f} > {COLLECTION_TARGET}")
    if tail > TAIL_TARGET:
        missed.append(f"endpoint p99 / median {tail:.2f} > {TAIL_TARGET}")
    if ratio < THROUGHPUT_TARGET:
        missed.append(f"endpoint / baseline req/s {ratio:.2f} < {THROUGHPUT_TARGET}")
    return scratch.finish(missed, args.report_only)


def without_collection(root: Path) -> Path:
    """The project in ``root`` with no ``data_collector`` in its deployment file."""
    path = root / "pipelines" / "endpoints" / "deployment.yml"
    spec = yaml.safe_load(path.read_text())
    spec.pop("data_collector", None)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def compare(root: Path, uncollected: Path, requests: int, rounds: int) -> tuple[float, ...]:
    """Measure the endpoint of the project in ``root`` (and of ``uncollected``'s),
    print the table; return its p99 / median, its requests per second over the
    baseline's and its median over the one without collection."""
    other = serving(uncollected)[2]
    settings, target, endpoint, deployment, model = serving(root)
    row = smoke_rows(target, settings, model).head(1)
    ours = request_body(row)
    theirs = json.dumps({"dataframe_split": json.loads(ours)["input_data"]}).encode()
    model_dir = Path(urlparse(model.source).path)
    spec = load_deployment_spec(settings.resolve(settings.endpoint.deployment))
    threads = worker_threads(dict(spec.environment_variables))
    server, baseline_url = start_mlflow(model_dir, threads)
    cases = {
        "endpoint": (endpoint.scoring_uri, ours),
        UNCOLLECTED: (other.scoring_uri, ours),
        "deployment": (deployment.scoring_uri, ours),
        "baseline (mlflow models serve)": (baseline_url, theirs),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
    results[MACHINE] = []
    try:
        for url, body in cases.values():
            measure(url, body, 50)  # warm up
        for round_ in range(1, rounds + 1):
            for name, (url, body) in cases.items():
                results[name].append(measure(url, body, requests))
            results[MACHINE].append(machine_tail(results["endpoint"][-1][0], requests))
            print(f"round {round_}/{rounds} done", flush=True)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    print(
        f"\nmodel {model.ref}: one row per request, {requests} requests x {rounds} "
        f"rounds; OMP_NUM_THREADS={threads} per worker and for the baseline; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'server':32} {'median ms':>16} {'p99 ms':>16} {'req/s':>14}")
    medians = {}
    for name, runs in results.items():
        cells = []
        for values in zip(*runs, strict=True):
            middle, low, high = statistics.median(values), min(values), max(values)
            cells.append((middle, f"{middle:.2f} ({low:.1f}-{high:.1f})"))
        medians[name] = [middle for middle, _ in cells]
        median, p99, rps = (text for _, text in cells)
        rps = f"{cells[2][0]:.0f} ({min(r[2] for r in runs):.0f}-{max(r[2] for r in runs):.0f})"
        print(f"{name:32} {median:>16} {p99:>16} {rps:>14}")
    median, p99, rps = medians["endpoint"]
    ratio = rps / medians["baseline (mlflow models serve)"][2]
    floor = medians[MACHINE][1] / medians[MACHINE][0]
    print(f"\nendpoint p99 / median: {p99 / median:.2f} (target <= {TAIL_TARGET})")
    print(f"endpoint / baseline req/s: {ratio:.2f} (target >= {THROUGHPUT_TARGET})")
    collection = median / medians[UNCOLLECTED][0]
    print(f"endpoint median with / without collection: {collection:.2f}", end=" ")
    print(f"(target <= {COLLECTION_TARGET})")
    print(f"the machine's own p99 / median (the CPU loop): {floor:.2f}")
    return p99 / median, ratio, collection


if __name__ == "__main__":
    sys.exit(main())
