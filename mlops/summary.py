"""Plain-text views of assets and runs for the terminal (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlops.targets.base import DataAsset, PipelineRun

# Shown first, in this order; any other metric follows alphabetically.
METRIC_ORDER = (
    "auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "demographic_parity_difference",
    "equalized_odds_difference",
)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A left-aligned text table with a rule under the header."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def describe_asset(asset: DataAsset) -> str:
    state = "registered" if asset.new else "already registered"
    return f"data {asset.ref} {state} ({asset.rows} rows, {asset.path})"


def describe_run(run: PipelineRun) -> str:
    """Run header, per-step times and the metrics table."""
    parts = [
        f"run {run.run_id}: {run.status} in {run.seconds:.1f} s on data {run.data_asset}",
        table(
            ["step", "status", "seconds"],
            [(s.name, s.status, f"{s.seconds:.1f}") for s in run.steps],
        ),
    ]
    if run.metrics:
        parts.append(table(["metric", "value"], [(k, f"{v:.4f}") for k, v in ordered(run.metrics)]))
    if run.error:
        parts.append(f"error: {run.error}")
    return "\n\n".join(parts)


def describe_runs(runs: Sequence[PipelineRun]) -> str:
    if not runs:
        return "no pipeline runs yet (run `mlops train`)"
    rows = [
        (r.run_id, r.status, r.data_asset, f"{r.seconds:.1f}", _fmt(r.metrics.get("auc")))
        for r in runs
    ]
    return table(["run", "status", "data", "seconds", "auc"], rows)


def ordered(metrics: dict[str, float]) -> list[tuple[str, float]]:
    first = [(k, metrics[k]) for k in METRIC_ORDER if k in metrics]
    return first + sorted((k, v) for k, v in metrics.items() if k not in METRIC_ORDER)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
