"""What the pipeline runs of every target share: the names of the pipeline's
inputs and outputs that ``mlops`` relies on, run ids, and the metrics file."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

DATA_INPUT = "raw_data"  # the pipeline input bound to the registered data version
MODEL_OUTPUT = "model"  # an MLflow model
METRICS_OUTPUT = "metrics"  # a folder holding METRICS_FILE (and curves.json)
TEST_DATA_OUTPUT = "test_data"  # the held-out split, as parquet files
TRAIN_DATA_OUTPUT = "train_data"  # the training split: the baseline of monitoring
# What the model relies on: EXPLANATIONS_FILE, the evaluate step's permutation importance.
EXPLANATIONS_OUTPUT = "explanations"
EXPLANATIONS_FILE = "explanations.json"
METRICS_FILE = "metrics.json"
# Beside it: the model's answer for each test row (column "prediction"), written by evaluate.
ANSWERS_FILE = "answers.parquet"


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique id such as ``20261123-101512-3fa2c1`` (also a valid
    Azure ML job name)."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def read_metrics(folder: str | Path | None) -> dict[str, float]:
    """The pipeline's metrics: ``metrics.json`` in its ``metrics`` output folder,
    a flat object of numbers. Raises ValueError saying what is wrong."""
    if not folder:
        raise ValueError(f"the pipeline has no output {METRICS_OUTPUT!r} (see pipeline.file)")
    path = Path(folder) / METRICS_FILE
    try:
        values = json.loads(path.read_text())
        return {str(k): float(v) for k, v in values.items()}
    except OSError:
        raise ValueError(f"{path}: the pipeline wrote no metrics file") from None
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{path}: expected a JSON object of numbers") from None
