"""Text generation through a deployment's scoring server, against the same model
called in-process with transformers' ``pipeline`` (the physical limit).

Builds the sample's tiny base model (``pipelines/src/tiny_model.py``) in a
throw-away folder, and measures, one request at a time over a kept-alive
connection:

- deployment: ``generate_score.py`` in azureml-inference-server-http, started
  as the local endpoint starts a deployment (``servers.py``: its worker's
  OpenMP threads, its model folder as Azure ML mounts it), one worker;
- in-process: ``pipeline("text-generation")`` on the same model files, greedy,
  with the same prompt and the same number of new tokens, in this process.

The tiny model is random, so it never ends an answer by itself: every
request generates exactly ``--tokens`` tokens, and tokens per second compare
like with like. Rounds alternate between the two; the medians over rounds of
p50 and p99 latency (ms) and of tokens per second are printed, with the
ratio deployment / in-process. The aim: the deployment's p50 at most 1.25x
the in-process one (the server's HTTP and JSON cost, small beside the
generation). Exits 1 when it is missed, unless ``--report-only``.

    .venv/bin/python bench/generation_latency.py [--requests 100] [--rounds 3] [--tokens 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import scratch

REPO = scratch.REPO
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "pipelines" / "src"))

from mlops.targets.local.endpoint import processes, servers  # noqa: E402

PROMPT = "Write 4711 in words."
P50_TARGET = 1.25  # deployment / in-process p50, at most


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def over_http(port: int, requests: int, tokens: int) -> list[float]:
    """Seconds of each of ``requests`` POSTs to the deployment's /score."""
    body = json.dumps({"prompt": PROMPT, "max_new_tokens": tokens}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    for _ in range(requests):
        begin = time.perf_counter()
        connection.request("POST", "/score", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise SystemExit(f"the deployment answered HTTP {answer.status}: {data[:200]!r}")
        latencies.append(time.perf_counter() - begin)
        if json.loads(data)["usage"]["completion_tokens"] != tokens:
            raise SystemExit("the deployment ended an answer early: tokens per second would lie")
    connection.close()
    return latencies


def in_process(generator, requests: int, tokens: int) -> list[float]:
    messages = [{"role": "user", "content": PROMPT}]
    latencies = []
    for _ in range(requests):
        begin = time.perf_counter()
        generator(messages, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        latencies.append(time.perf_counter() - begin)
    return latencies


def deployment(folder: Path, model: Path, port: int):
    """Start generate_score.py's server in ``folder`` as a deployment, on ``port``."""
    shutil.copytree(REPO / "pipelines" / "src", folder / "code",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    item = {
        "model": "tiny:1",
        "port": port,
        "scoring_script": "generate_score.py",
        "environment_variables": {"WORKER_COUNT": "1", "HF_HUB_OFFLINE": "1"},
    }
    shutil.copytree(model, servers.model_dir(folder, item) / "model")
    process = servers.start(folder, item, "bench")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the deployment did not start: {(folder / servers.LOG_FILE).read_text()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    scratch.report_only_flag(parser)
    args = parser.parse_args()
    os.environ.update(
        HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error"
    )
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # no model card: it is built here
    import tiny_model
    from text_model import load
    from transformers import pipeline

    with tempfile.TemporaryDirectory(prefix="mlops-bench-generate-") as work:
        work = Path(work)
        print("building the tiny base model, starting its deployment", flush=True)
        tiny_model.build(tiny_model.texts_of(REPO / "data" / "number-words" / "number_words.jsonl"),
                         work / "model")  # fmt: skip
        port = scratch.free_port()
        served = deployment(work / "deployment", work / "model", port)
        model, tokenizer = load(work / "model")
        generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
        rows = {"deployment": [], "in-process": []}
        try:
            over_http(port, 5, args.tokens), in_process(generator, 5, args.tokens)  # warm up
            for _ in range(args.rounds):
                for name, measure in (
                    ("deployment", lambda: over_http(port, args.requests, args.tokens)),
                    ("in-process", lambda: in_process(generator, args.requests, args.tokens)),
                ):
                    latencies = measure()
                    p50, p99 = percentiles(latencies)
                    rows[name].append((p50, p99, args.tokens * len(latencies) / sum(latencies)))
        finally:
            processes.stop(servers.marker(work / "deployment"), grace=2)
            served.wait(timeout=10)
    print(f"\n{args.tokens} new tokens a request, {args.requests} requests x {args.rounds} rounds")
    print(f"{'':<12}{'p50 ms':>10}{'p99 ms':>10}{'tokens/s':>10}")
    medians = {}
    for name, measured in rows.items():
        medians[name] = [statistics.median(column) for column in zip(*measured, strict=True)]
        p50, p99, rate = medians[name]
        print(f"{name:<12}{p50:>10.1f}{p99:>10.1f}{rate:>10.0f}")
    ratio = medians["deployment"][0] / medians["in-process"][0]
    print(f"deployment / in-process p50: {ratio:.2f}x (aim: at most {P50_TARGET}x)")
    missed = [f"p50 {ratio:.2f}x > {P50_TARGET}x"] if ratio > P50_TARGET else []
    return scratch.finish(missed, args.report_only)


if __name__ == "__main__":
    sys.exit(main())
