"""`mlops monitor`'s work on many collected rows, against just reading them.

Writes ``--rows`` collected input rows (default 1M, 20 per call, as the
local endpoint writes them: one JSON line per call, an hour's files) drawn
from the sample data, and takes the sample's first 24,000 rows as the
baseline. Then, each in a process of its own, alternating over
``--rounds``:

- read: every line parsed (``json.loads``) and its rows counted: the floor,
  what any reader of these files pays;
- monitor: the collection read into a frame (``collected.read_collection``)
  and judged against the baseline with the default thresholds
  (``judge.judge``): the whole of `mlops monitor` but finding the files.

Prints the median seconds and peak memory (max RSS) of each, and the ratio.
The aims: monitor at most 2x read, and under 1.5 GB. Exits 1 when one is
missed, unless ``--report-only``.

    .venv/bin/python bench/monitor.py [--rows 1000000] [--rounds 3] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import scratch

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "credit-default" / "credit_default.csv"
DROPPED = ["default_payment_next_month", "SEX"]
PER_CALL = 20
RATIO_AIM, MEMORY_AIM_MB = 2.0, 1536
HOUR = datetime(2026, 12, 3, 10, tzinfo=UTC)

READ = """
import json, sys
from pathlib import Path
rows = 0
for path in sorted(Path(sys.argv[1]).rglob("*.jsonl")):
    with path.open("rb") as handle:
        for line in handle:
            rows += len(json.loads(line)["data"])
print(rows)
"""

MONITOR = """
import sys
from datetime import datetime
from pathlib import Path
import pandas as pd
sys.path.insert(0, sys.argv[3])
from mlops.monitoring.collected import read_collection
from mlops.monitoring.judge import judge
from mlops.settings import MonitorSettings
baseline = pd.read_parquet(sys.argv[2])
since = datetime.fromisoformat("2026-12-03T10:00:00+00:00")
until = datetime.fromisoformat("2026-12-03T11:00:00+00:00")
read = read_collection(Path(sys.argv[1]), "model_inputs", since, until, list(baseline.columns))
report = judge(MonitorSettings(min_rows=1), baseline, read.rows)
print(len(read.rows), len(report.measured))
"""


def write_collection(folder: Path, rows: int) -> Path:
    """``rows`` rows of the sample, as the endpoint collects them, under ``folder``."""
    import pandas as pd

    table = pd.read_csv(SAMPLE).drop(columns=DROPPED)
    records = table.to_dict("records")
    out = folder / "model_inputs" / HOUR.strftime("%Y/%m/%d/%H") / "instance.jsonl"
    out.parent.mkdir(parents=True)
    with out.open("w") as handle:
        for call, start in enumerate(range(0, rows, PER_CALL)):
            data = [records[(start + i) % len(records)] for i in range(min(PER_CALL, rows - start))]
            when = HOUR.replace(minute=(call // 1000) % 60, second=call % 60)
            handle.write(
                json.dumps(
                    {
                        "type": "azureml.inference.model_inputs",
                        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "data": data,
                        "correlationid": str(call),
                    },
                    separators=(",", ":"),
                )
                + "\n"
            )
    baseline = folder / "baseline.parquet"
    table.head(24_000).to_parquet(baseline)
    return baseline


def timed(code: str, *args: str) -> tuple[float, float]:
    """(seconds, peak MB) of ``code`` run in a process of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    scratch.report_only_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as scratch_folder:
        folder = Path(scratch_folder)
        print(f"writing {args.rows:,} collected rows ({PER_CALL} per call)", flush=True)
        baseline = write_collection(folder, args.rows)
        size = sum(p.stat().st_size for p in folder.rglob("*.jsonl")) / 1e6
        reads, monitors = [], []
        for round_ in range(1, args.rounds + 1):
            reads.append(timed(READ, str(folder)))
            # A fresh process per round: its peak is its own (RUSAGE_CHILDREN keeps
            # the largest child's, so the monitor runs after the smaller reader).
            monitors.append(timed(MONITOR, str(folder), str(baseline), str(REPO)))
            print(f"round {round_}/{args.rounds} done", flush=True)
    read_s = statistics.median(s for s, _ in reads)
    monitor_s = statistics.median(s for s, _ in monitors)
    peak = max(mb for _, mb in monitors)
    print(f"\n{args.rows:,} rows, {size:.0f} MB of JSON lines")
    print(f"{'':10} {'seconds':>10}")
    print(f"{'read':10} {read_s:>10.2f}")
    print(f"{'monitor':10} {monitor_s:>10.2f}")
    ratio = monitor_s / read_s
    print(f"monitor / read: {ratio:.2f} (aim <= {RATIO_AIM}); monitor's peak memory "
          f"{peak:.0f} MB (aim < {MEMORY_AIM_MB})")  # fmt: skip
    missed = []
    if ratio > RATIO_AIM:
        missed.append(f"monitor / read {ratio:.2f} > {RATIO_AIM}")
    if peak >= MEMORY_AIM_MB:
        missed.append(f"peak memory {peak:.0f} MB >= {MEMORY_AIM_MB}")
    return scratch.finish(missed, args.report_only)


if __name__ == "__main__":
    sys.exit(main())
