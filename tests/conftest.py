"""Shared fixtures: a throw-away project (settings + a slice of the sample data)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "credit-default" / "credit_default.csv"
SLICE_ROWS = 3000

# The step scripts import their helpers as `common`, as they do in their code folder.
sys.path.insert(0, str(REPO / "pipelines" / "src"))


def sample_frame(rows: int = SLICE_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of the sample data set."""
    return pd.read_csv(SAMPLE, nrows=rows)


def write_settings(root: Path, **sections) -> Path:
    """Write ``mlops.yml`` in ``root``: the repository's settings with ``sections`` merged in."""
    settings = yaml.safe_load((REPO / "mlops.yml").read_text())
    for key, value in sections.items():
        if isinstance(value, dict):
            settings[key] = {**settings.get(key, {}), **value}
        else:
            settings[key] = value
    path = root / "mlops.yml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the real pipeline and a 3,000-row slice of the sample data."""
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines", ignore=_caches)
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    data = tmp_path / "data" / "credit.csv"
    data.parent.mkdir()
    sample_frame().to_csv(data, index=False)
    write_settings(tmp_path, data={"path": "data/credit.csv"})
    return tmp_path


def _caches(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]
