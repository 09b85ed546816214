"""What the permutation importance adds to the evaluate step, on the sample and at
1M test rows.

Trains the sample with `mlops train` in a throw-away project (``scratch.py``),
then runs the evaluate step's ``main()`` in this process on that run's model
and test split, alternately with and without ``--explanations-output`` (the
settings' defaults: 200 rows, 5 shuffles), and prints the medians and their
ratio. Aim: at most 1.20x on the sample. Then the importance alone
(``explain_model``) on the sample's test split and on 1M rows of it drawn
with replacement: it shuffles 200 rows whatever the split's size, so the
aim is at most 2x the sample's time at 1M rows (the draw of the rows is
what grows).

    .venv/bin/python bench/explanations.py [--rounds 9] [--report-only]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import scratch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "pipelines" / "src"))

BIG_ROWS = 1_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    scratch.report_only_flag(parser)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # a step's worker, as the local target runs it
    with tempfile.TemporaryDirectory(prefix="mlops-bench-explain-") as folder:
        work = Path(folder)
        root = scratch.project(work / "project")
        print("training the sample in a throw-away project (`mlops train`)")
        for verb in ("register-data", "train"):
            subprocess.run([scratch.MLOPS, verb], cwd=root, check=True, capture_output=True)
        (run,) = (root / ".mlops" / "models" / "credit-default" / "runs").glob("*/")
        model, test = run / "train" / "outputs" / "model", run / "prep" / "outputs" / "test_data"
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
        os.chdir(work)  # MLflow's artifacts of the evaluate runs land here
        without, with_ = compare(model, test, work, args.rounds)
        small, big = explaining(model, test, args.rounds)
    print(f"\nevaluate on the sample ({args.rounds} rounds, medians):")
    print(f"  without explanations {without:.3f} s, with {with_:.3f} s: {with_ / without:.2f}x")
    print(
        f"the importance alone: {small * 1000:.0f} ms on the sample's test split, "
        f"{big * 1000:.0f} ms on {BIG_ROWS:,} test rows ({big / small:.2f}x)"
    )
    missed = []
    if with_ / without > 1.20:
        missed.append(f"evaluate with / without explanations {with_ / without:.2f} > 1.20")
    if big > 2 * small:
        missed.append(f"the importance at 1M test rows {big / small:.2f}x the sample's > 2")
    return scratch.finish(missed, args.report_only)


def compare(model: Path, test: Path, work: Path, rounds: int) -> tuple[float, float]:
    """Median seconds of evaluate without and with explanations, alternating."""
    import evaluate

    def timed(*extra: str) -> float:
        argv = ["--model", str(model), "--test-data", str(test)]
        argv += ["--metrics-output", str(work / "metrics"), *extra]
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert evaluate.main(argv) == 0
        return time.perf_counter() - started

    timed(), timed("--explanations-output", str(work / "explained"))  # warm
    without, with_ = [], []
    for _ in range(rounds):
        without.append(timed())
        with_.append(timed("--explanations-output", str(work / "explained")))
    return statistics.median(without), statistics.median(with_)


def explaining(model_dir: Path, test: Path, rounds: int) -> tuple[float, float]:
    """Median seconds of the evaluate step's importance alone (``explain_model``,
    the defaults) on the sample's test split and on ``BIG_ROWS`` rows of it drawn
    with replacement."""
    import mlflow.sklearn
    import pandas as pd
    from contract import load_contract
    from evaluate import explain_model

    contract = load_contract(model_dir)
    model = mlflow.sklearn.load_model(str(model_dir))
    (source,) = test.glob("*.parquet")
    table = pd.read_parquet(source)
    big = table.sample(n=BIG_ROWS, replace=True, random_state=0).reset_index(drop=True)
    defaults = argparse.Namespace(explain_rows=200, explain_repeats=5, shap_rows=0, seed=42)

    def timed(rows: pd.DataFrame) -> float:
        frame, labels = contract.model_frame(rows), rows[contract.roles.target_column]
        started = time.perf_counter()
        explain_model(model, contract, frame, labels, defaults)
        return time.perf_counter() - started

    small = statistics.median(timed(table) for _ in range(rounds))
    return small, statistics.median(timed(big) for _ in range(rounds))


if __name__ == "__main__":
    sys.exit(main())
