"""How much the local pipeline adds over running its step scripts by hand.

Runs, on the data in mlops.yml (registered first, outside the timing):

- baseline: the three step scripts of pipelines/src as a user would run them
  by hand, one after the other, with the same arguments and an MLflow SQLite
  store (created beforehand, so neither side pays for the schema);
- pipeline: `mlops train --force-rerun` on the same data version (YAML loading, step
  processes, tracking, run record).

Each is run ROUNDS times, alternating; the medians and their ratio are
printed. The target is a ratio of at most 1.10 (exit 1 when missed, unless
``--report-only``). Both run in a throw-away copy of the project
(``scratch.py``): nothing reaches the user's `mlops runs`.

    .venv/bin/python bench/pipeline_overhead.py [--rounds 3] [--report-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import scratch

BIN = Path(sys.executable).parent
RATIO_TARGET = 1.10


def timed(command: list[str], **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def by_hand(src: Path, data: Path, columns: Path, folder: Path, env: dict[str, str]) -> float:
    steps = [
        [
            "prep.py",
            "--raw-data",
            str(data),
            "--columns",
            str(columns),
            "--test-size",
            "0.2",
            "--seed",
            "42",
            "--train-data",
            f"{folder}/train",
            "--test-data",
            f"{folder}/test",
        ],
        [
            "train.py",
            "--train-data",
            f"{folder}/train",
            "--columns",
            str(columns),
            "--learning-rate",
            "0.1",
            "--max-iter",
            "200",
            "--max-leaf-nodes",
            "31",
            "--seed",
            "42",
            "--model-output",
            f"{folder}/model",
        ],
        [
            "evaluate.py",
            "--model",
            f"{folder}/model",
            "--test-data",
            f"{folder}/test",
            "--metrics-output",
            f"{folder}/metrics",
        ],
    ]
    return sum(timed([str(BIN / "python"), *step], cwd=src, env=env) for step in steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    scratch.report_only_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        ratio = compare(Path(folder), args.rounds)
    missed = [f"pipeline / by hand {ratio:.2f} > {RATIO_TARGET}"] if ratio > RATIO_TARGET else []
    return scratch.finish(missed, args.report_only)


def compare(folder: Path, rounds: int) -> float:
    """The median pipeline time over the median time by hand, in a project under ``folder``."""
    root = scratch.project(folder / "project")
    mlops = scratch.MLOPS
    registered = subprocess.run(
        [mlops, "register-data"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.split()[1]
    state = root / ".mlops" / "models" / "credit-default"
    data = next((state / "data").glob(f"{registered.replace(':', '/')}/*.csv"))
    # The sample's column roles, as mlops writes them from mlops.yml.
    columns = root / "pipelines" / "columns.json"
    version = registered.split(":")[1]
    with tempfile.TemporaryDirectory() as scratch_folder:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{scratch_folder}/mlflow.db",
            "MLFLOW_EXPERIMENT_NAME": "bench",
            "PYTHONUNBUFFERED": "1",
        }
        subprocess.run(
            [str(BIN / "python"), "-c", "import mlflow; mlflow.set_experiment('bench')"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [mlops, "train", "--force-rerun", "--data-version", version],
            cwd=root,
            check=True,
            capture_output=True,
        )  # warm: creates the local store's schema
        hand, pipeline = [], []
        src = root / "pipelines" / "src"
        for round_ in range(rounds):
            hand.append(by_hand(src, data, columns, Path(scratch_folder) / f"r{round_}", env))
            pipeline.append(
                timed([mlops, "train", "--force-rerun", "--data-version", version], cwd=root)
            )
            print(f"round {round_ + 1}: by hand {hand[-1]:.1f} s, pipeline {pipeline[-1]:.1f} s")
    baseline, measured = statistics.median(hand), statistics.median(pipeline)
    print(f"median by hand   {baseline:.1f} s")
    print(f"median pipeline  {measured:.1f} s")
    print(f"ratio            {measured / baseline:.2f}  (target <= {RATIO_TARGET})")
    return measured / baseline


if __name__ == "__main__":
    sys.exit(main())
