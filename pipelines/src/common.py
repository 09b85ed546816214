"""Helpers shared by the step scripts (standard library at import time)."""

from __future__ import annotations

import sys
from pathlib import Path

# What the prep step saw in the whole cleaned table, written beside the train
# split: {"labels": {"0": ..., "1": ..., ...}, "gaps": [features with a gap]},
# the labels by class code in order ({} for regression).
SPLIT_FILE = "split.json"


def output_file(folder: Path, name: str) -> Path:
    """Return ``folder/name``, creating ``folder`` (an Azure ML output folder may not exist yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def data_file(folder: Path) -> Path:
    """Return the single Parquet file of a ``uri_folder`` written by the prep step."""
    files = sorted(folder.glob("*.parquet"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .parquet file in {folder}, found {len(files)}")
    return files[0]


def read_split(folder: Path):
    """The prep step's Parquet file in ``folder`` as a pandas frame, converted
    column by column and releasing Arrow's copy as it goes: pandas' own
    ``read_parquet`` holds both copies at once."""
    import pyarrow.parquet as pq

    table = pq.read_table(data_file(folder))
    return table.to_pandas(split_blocks=True, self_destruct=True)


def find_model_dir(root: Path) -> Path:
    """The one folder under ``root`` that holds an ``MLmodel`` file.

    Azure ML mounts a registered model under ``AZUREML_MODEL_DIR`` in a
    sub-folder named after the registered path, so the depth is not fixed."""
    found = sorted(path.parent for path in root.rglob("MLmodel"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one MLflow model (MLmodel file) under {root}, found {found}"
        )
    return found[0]


def fail(message: str) -> int:
    """Print a one-line error for the step log and return the exit code for it."""
    print(f"error: {message}", file=sys.stderr)
    return 2
