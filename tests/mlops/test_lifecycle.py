"""The lifecycle's mapping of settings to pipeline inputs."""

from mlops import lifecycle
from mlops.settings import load_settings
from mlops.targets.base import DataAsset
from tests.conftest import write_settings


def test_the_settings_checked_at_start_are_the_inputs_the_pipeline_gets(tmp_path):
    settings = load_settings(write_settings(tmp_path, pipeline={"test_size": 0.3, "seed": 7}))
    asset = DataAsset(
        name="credit-default",
        version="0" * 12,
        path=str(tmp_path / "credit.csv"),
        sha256="0" * 64,
        rows=100,
        columns=("AGE", "SEX", "default_payment_next_month"),
        created="2024-01-01T00:00:00+00:00",
        classes=("0", "1"),
    )
    inputs = lifecycle.pipeline_inputs(settings, asset)
    assert lifecycle.settings_inputs(settings) == {"test_size": 0.3, "seed": 7}
    assert {name: inputs[name] for name in lifecycle.SETTINGS_INPUTS} == {
        "test_size": 0.3,
        "seed": 7,
    }
