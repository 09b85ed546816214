"""How registration and training grow with the number of rows.

For each size, makes a synthetic CSV with the sample data's columns (its rows
resampled, amounts and ages jittered), one text column EDUCATION_LEVEL
(graduate, university, high_school, other) and gaps: a few percent of empty
cells in some numeric features and in the text column. Each size gets a
throw-away project (the repository's pipelines/, environments/ and an
mlops.yml pointing data.path at the CSV, with its state inside the project),
in which `mlops register-data` and `mlops train` run as subprocesses, as a
user runs them.

Printed per size: seconds of register, train and both, the ratio of the total
to the 30k rows' total, and peak memory in MB (the kernel's high-water mark
of resident memory, VmHWM): of the register process, and of each pipeline
step's process (prep, train, evaluate; the local runner starts each step as a
process of its own, found by polling the process tree every POLL seconds),
and of the warm interpreter the later steps fork from.
"largest" is the largest process of the whole train run as the kernel reports
it on wait4, a check that polling missed no peak. The targets: 1M rows in at
most 5x the 30k time and at most 2 GB in every process; 10M rows in at most
8 GB in every step.

    .venv/bin/python bench/scale.py [--sizes 30000,300000,1000000] [--no-text]

--no-text leaves the text column out (for a train step that cannot save a
model with one); --keep keeps the projects and prints where they are.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import scratch
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "credit-default" / "credit_default.csv"
MLOPS = str(Path(sys.executable).parent / "mlops")
STEPS = ("prep", "train", "evaluate")
POLL = 0.1
BASE_ROWS = 30_000
# rows -> (most total seconds as a multiple of the 30k total, most MB of any process)
TARGETS = {1_000_000: (5.0, 2048), 10_000_000: (None, 8192)}
WRITE_ROWS = 1_000_000  # rows generated and written at a time
GAPS = {"AGE": 0.02, "BILL_AMT1": 0.03, "PAY_AMT1": 0.03, "EDUCATION_LEVEL": 0.04}
JITTERED = re.compile(r"LIMIT_BAL|BILL_AMT\d|PAY_AMT\d")
# How `mlops train` reports a finished step: "[1/3] prep completed in 1.2 s".
STEP_DONE = re.compile(r"^\[\d+/\d+\] (\w+) .*?in ([\d.]+) s$", re.MULTILINE)
LEVELS = np.array(["other", "graduate", "university", "high_school"], dtype=object)


def write_data(path: Path, rows: int, text: bool, seed: int = 0) -> None:
    """Write ``rows`` synthetic rows to the CSV file ``path`` (see the module docstring)."""
    sample = pacsv.read_csv(SAMPLE).to_pandas()
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, WRITE_ROWS):
        part = sample.iloc[rng.integers(0, len(sample), min(WRITE_ROWS, rows - start))]
        columns = {}
        for name in part.columns:
            values = part[name].to_numpy()
            if JITTERED.fullmatch(name):
                values = np.rint(values * rng.lognormal(0, 0.05, len(values))).astype("int64")
            elif name == "AGE":
                values = np.clip(values + rng.integers(-2, 3, len(values)), 21, 79)
            columns[name] = values
            if name == "EDUCATION" and text:
                # Graduate school, university, high school, others in the source's coding.
                columns["EDUCATION_LEVEL"] = LEVELS[np.where(values <= 3, values, 0)]
        table = pa.table(
            {
                name: pa.array(values, mask=rng.random(len(values)) < GAPS.get(name, 0))
                for name, values in columns.items()
            }
        )
        if writer is None:
            options = pacsv.WriteOptions(quoting_style="none")  # no value holds a comma
            writer = pacsv.CSVWriter(path, table.schema, write_options=options)
        writer.write_table(table)
    writer.close()


def make_project(root: Path, rows: int, text: bool) -> Path:
    """A project in ``root`` on a CSV of ``rows`` rows; returns its settings file."""
    shutil.copytree(
        REPO / "pipelines", root / "pipelines", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "environments", root / "environments")
    data = root / "data" / f"scale-{rows}.csv"
    data.parent.mkdir()
    write_data(data, rows, text)
    settings = yaml.safe_load((REPO / "mlops.yml").read_text())
    settings["state_dir"] = ".mlops"
    path = root / "mlops.yml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    model = yaml.safe_load((REPO / scratch.SAMPLE / "mlops.yml").read_text())
    model["data"]["path"] = str(data)
    (root / scratch.SAMPLE).mkdir(parents=True)
    (root / scratch.SAMPLE / "mlops.yml").write_text(yaml.safe_dump(model, sort_keys=False))
    return path


@dataclass
class Watched:
    """What one command cost: seconds, its exit code and output, and peak MB per process role."""

    seconds: float = 0.0
    code: int = 0
    output: str = ""
    peaks: dict[str, float] = field(default_factory=dict)
    largest: float = 0.0


def watch(command: list[str], cwd: Path) -> Watched:
    """Run ``command``; poll its process tree for each process's VmHWM, naming a
    process after the step script it (or its nearest named ancestor) runs."""
    result, started = Watched(), time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        roles = {process.pid: "self"}
        while True:
            done, status, usage = os.wait4(process.pid, os.WNOHANG)
            if done:
                break
            for pid, parent in _tree(process.pid):
                # Looked up each time: a child forked but not yet exec'd reads as its parent.
                roles[pid] = _step_of(pid) or roles.get(parent, "self")
                peak = _vmhwm_mb(pid)
                result.peaks[roles[pid]] = max(result.peaks.get(roles[pid], 0.0), peak)
            time.sleep(POLL)
        result.seconds = time.perf_counter() - started
        result.code = process.returncode = os.waitstatus_to_exitcode(status)
        # Linux: the largest resident set of the child and of every descendant it waited for.
        result.largest = usage.ru_maxrss / 1024
        log.seek(0)
        result.output = log.read()
    return result


def _tree(root: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of ``root`` and its descendants, parents first."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, queue = [(root, 0)], [root]
    while queue:
        parent = queue.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += [(child, parent) for child in children]
        queue += children
    return found


def _step_of(pid: int) -> str | None:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        words = words.replace("\0", " ").split()
        # A step forked by the warm interpreter keeps its command line and takes the
        # script's name as its process name (see warm_python.py).
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if name.endswith(".py") and name[:-3] in STEPS:
        return name[:-3]
    if any(word.endswith("warm_python.py") for word in words):
        return "warm"
    return next((w[:-3] for w in words if w.endswith(".py") and w[:-3] in STEPS), None)


def _vmhwm_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


@dataclass
class Row:
    rows: int
    register: Watched
    train: Watched | None

    @property
    def total(self) -> float:
        return self.register.seconds + (self.train.seconds if self.train else 0.0)

    def peaks(self) -> list[float]:
        steps = self.train.peaks if self.train else {}
        return [self.register.peaks.get("self", 0.0), *(steps.get(s, 0.0) for s in STEPS)]


def measure(rows: int, text: bool, keep: bool) -> Row:
    root = Path(tempfile.mkdtemp(prefix=f"scale-{rows}-"))
    try:
        settings = make_project(root, rows, text)
        model = yaml.safe_load((root / scratch.SAMPLE / "mlops.yml").read_text())
        size = Path(model["data"]["path"]).stat().st_size
        print(f"{rows:>10,} rows: {size / 2**20:,.0f} MB of CSV in {root}", flush=True)
        register = watch([MLOPS, "--settings", str(settings), "register-data"], root)
        _report("register-data", register)
        if register.code:
            return Row(rows, register, None)
        train = watch([MLOPS, "--settings", str(settings), "train", "--force-rerun"], root)
        _report("train", train)
        return Row(rows, register, train)
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _report(verb: str, watched: Watched) -> None:
    mark = "ok" if watched.code == 0 else f"FAILED (exit code {watched.code})"
    steps = ", ".join(f"{m[0]} {m[1]} s" for m in STEP_DONE.findall(watched.output))
    print(f"  mlops {verb}: {watched.seconds:.1f} s, {mark}" + (f" ({steps})" if steps else ""))
    if watched.code:
        print("    " + "\n    ".join(watched.output.strip().splitlines()[-15:]))


def verdict(row: Row, base: Row | None) -> str:
    if row.train is None or row.train.code:
        return "failed"
    if row.rows not in TARGETS:
        return ""
    ratio, megabytes = TARGETS[row.rows]
    misses = []
    if ratio and base and row.total > ratio * base.total:
        misses.append(f"time > {ratio:g}x")
    if max(row.peaks()) > megabytes:
        misses.append(f"peak > {megabytes} MB")
    return "; ".join(misses) or "meets target"


def print_table(results: list[Row]) -> None:
    base = next((r for r in results if r.rows == BASE_ROWS and r.train and not r.train.code), None)
    header = ["rows", "register s", "train s", "total s", "x30k", "register MB"]
    header += [f"{s} MB" for s in STEPS] + ["largest MB", "target"]
    lines = [header]
    for row in results:
        train = row.train
        lines.append(
            [
                f"{row.rows:,}",
                f"{row.register.seconds:.1f}",
                f"{train.seconds:.1f}" if train else "-",
                f"{row.total:.1f}",
                f"{row.total / base.total:.1f}" if base and train else "-",
                *(f"{mb:,.0f}" if mb else "-" for mb in row.peaks()),
                f"{max(row.register.largest, train.largest if train else 0):,.0f}",
                verdict(row, base),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
    print()
    print("targets: 1M rows <= 5x the 30k total and <= 2048 MB in every process;")
    print("         10M rows <= 8192 MB in every step")
    # Another process on the machine slows every second measured; say how busy it was.
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average (1, 5, 15 min) at the end: {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="30000,300000,1000000",
        help="comma-separated row counts (default: %(default)s); add 10000000 for 10M",
    )
    parser.add_argument("--no-text", action="store_true", help="leave out the text column")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away projects")
    scratch.report_only_flag(parser)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if BASE_ROWS not in sizes:
        sizes.insert(0, BASE_ROWS)  # the ratios are to it
    print(f"text column: {'no (--no-text)' if args.no_text else 'EDUCATION_LEVEL'}")
    results = [measure(rows, not args.no_text, args.keep) for rows in sizes]
    print_table(results)
    base = next((r for r in results if r.rows == BASE_ROWS and r.train and not r.train.code), None)
    verdicts = [(row, verdict(row, base)) for row in results]
    failed = [f"{row.rows:,} rows: {said}" for row, said in verdicts if said == "failed"]
    missed = [f"{row.rows:,} rows: {said}" for row, said in verdicts if said not in MET]
    if failed:
        print(f"failed: {'; '.join(failed)}")
        return 1  # a run that failed measured nothing, whatever --report-only says
    return scratch.finish(missed, args.report_only)


MET = ("", "meets target", "failed")


if __name__ == "__main__":
    sys.exit(main())
