"""Text generation through the local endpoint, on both of its routes, against
the same model called in-process with transformers' ``pipeline`` (the physical
limit).

Builds the sample's tiny base model (``pipelines/src/tiny_model.py``) in a
throw-away folder, deploys it as ``mlops deploy`` does (a local endpoint: its
router and one deployment of ``generate_score.py`` in
azureml-inference-server-http, with ``pipelines/endpoints/generation-deployment.yml``'s
settings, one worker, taking all the traffic), and measures, one request at
a time over a kept-alive connection:

- endpoint /score: the scoring route, through the router;
- endpoint chat: OpenAI's ``POST /v1/chat/completions``, through the router
  and the same scoring script;
- in-process: ``pipeline("text-generation")`` on the same model files, greedy,
  with the same prompt and the same number of new tokens, in this process.

The tiny model is random, so it never ends an answer by itself: every
request generates exactly ``--tokens`` tokens, and tokens per second compare
like with like. Rounds alternate between them; the medians over rounds of
p50 and p99 latency (ms) and of tokens per second are printed, with the
ratios endpoint / in-process. The aim: each route's p50 at most 1.25x the
in-process one (HTTP, the router and JSON, small beside the generation).
Exits 1 when it is missed, unless ``--report-only``.

    .venv/bin/python bench/generation_latency.py [--requests 100] [--rounds 3] [--tokens 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import scratch

REPO = scratch.REPO
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "pipelines" / "src"))

from mlops.deployment_spec import load_deployment_spec  # noqa: E402
from mlops.targets.local.endpoint import LocalEndpoint  # noqa: E402
from mlops.targets.local.endpoint.openai_chat import CHAT_PATH as CHAT  # noqa: E402

PROMPT = "Write 4711 in words."
P50_TARGET = 1.25  # each route's p50 / in-process p50, at most
SCORE = "/score"


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def over_http(port: int, route: str, requests: int, tokens: int) -> list[float]:
    """Seconds of each of ``requests`` POSTs to the endpoint's ``route``."""
    if route == SCORE:
        body = {"prompt": PROMPT, "max_new_tokens": tokens}
    else:
        body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens}
    data = json.dumps(body).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    for _ in range(requests):
        begin = time.perf_counter()
        connection.request("POST", route, data, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        reply = answer.read()
        if answer.status != 200:
            raise SystemExit(f"{route} answered HTTP {answer.status}: {reply[:200]!r}")
        latencies.append(time.perf_counter() - begin)
        if json.loads(reply)["usage"]["completion_tokens"] != tokens:
            raise SystemExit(f"{route} ended an answer early: tokens per second would lie")
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


def endpoint(folder: Path, model: Path, port: int) -> LocalEndpoint:
    """The tiny model deployed on a local endpoint in ``folder`` on ``port``, as
    ``mlops deploy`` deploys a text-generation model, taking all the traffic."""
    spec = load_deployment_spec(REPO / "pipelines" / "endpoints" / "generation-deployment.yml")
    served = LocalEndpoint(folder, "bench-generation", port)
    served.create_deployment("blue", "tiny:1", model, spec, lambda line: None, chat=True)
    served.set_traffic({"blue": 100})
    return served


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
        print("building the tiny base model, deploying it on a local endpoint", flush=True)
        tiny_model.build(tiny_model.texts_of(REPO / "data" / "number-words" / "number_words.jsonl"),
                         work / "model")  # fmt: skip
        served = endpoint(work / "state", work / "model", scratch.free_port())
        model, tokenizer = load(work / "model")
        generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
        port = served.port
        cases = {
            "endpoint /score": lambda n: over_http(port, SCORE, n, args.tokens),
            "endpoint chat": lambda n: over_http(port, CHAT, n, args.tokens),
            "in-process": lambda n: in_process(generator, n, args.tokens),
        }
        rows = {name: [] for name in cases}
        try:
            for measure in cases.values():
                measure(5)  # warm up
            for _ in range(args.rounds):
                for name, measure in cases.items():
                    latencies = measure(args.requests)
                    p50, p99 = percentiles(latencies)
                    rows[name].append((p50, p99, args.tokens * len(latencies) / sum(latencies)))
        finally:
            served.delete()
    print(f"\n{args.tokens} new tokens a request, {args.requests} requests x {args.rounds} rounds")
    print(f"{'':<16}{'p50 ms':>10}{'p99 ms':>10}{'tokens/s':>10}")
    medians = {}
    for name, measured in rows.items():
        medians[name] = [statistics.median(column) for column in zip(*measured, strict=True)]
        p50, p99, rate = medians[name]
        print(f"{name:<16}{p50:>10.1f}{p99:>10.1f}{rate:>10.0f}")
    missed = []
    for name in ("endpoint /score", "endpoint chat"):
        ratio = medians[name][0] / medians["in-process"][0]
        print(f"{name} / in-process p50: {ratio:.2f}x (aim: at most {P50_TARGET}x)")
        if ratio > P50_TARGET:
            missed.append(f"{name} p50 {ratio:.2f}x > {P50_TARGET}x")
    return scratch.finish(missed, args.report_only)


if __name__ == "__main__":
    sys.exit(main())
