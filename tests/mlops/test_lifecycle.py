"""The lifecycle's mapping of settings to pipeline inputs."""

import pytest

from mlops import lifecycle
from mlops.kinds import TABULAR
from mlops.settings import load_settings
from mlops.state_files import StateFileError
from mlops.targets.base import DataAsset
from tests.conftest import write_settings


def asset_in(folder):
    return DataAsset(
        name="credit-default",
        version="0" * 12,
        path=str(folder / "credit.csv"),
        sha256="0" * 64,
        rows=100,
        columns=("AGE", "SEX", "default_payment_next_month"),
        created="2024-01-01T00:00:00+00:00",
        classes=("0", "1"),
    )


def test_the_settings_checked_at_start_are_the_inputs_the_pipeline_gets(tmp_path):
    chosen = {
        "test_size": 0.3,
        "seed": 7,
        "explain_rows": 300,
        "explain_repeats": 3,
        "shap_rows": 40,
    }
    settings = load_settings(write_settings(tmp_path, pipeline=chosen))
    asset = asset_in(tmp_path)
    inputs = lifecycle.pipeline_inputs(settings, asset)
    assert lifecycle.settings_inputs(settings) == chosen
    assert {name: inputs[name] for name in TABULAR.settings_inputs} == chosen


def test_column_roles_behind_a_link_are_refused_before_a_step_reads_them(tmp_path):
    settings = load_settings(write_settings(tmp_path))
    roles = lifecycle.pipeline_inputs(settings, asset_in(tmp_path))["columns"]
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"planted": true}')
    roles.unlink()
    roles.symlink_to(outside)
    with pytest.raises(StateFileError, match=f"^{roles}: a symbolic link where mlops keeps"):
        lifecycle.pipeline_inputs(settings, asset_in(tmp_path))
    assert outside.read_text() == '{"planted": true}'
