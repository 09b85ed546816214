"""The lifecycle as plain functions over a target: register data, train, run.

Each function takes the target and the settings, does one stage and returns
what it produced; the CLI only parses arguments and prints. Errors a user can
act on are raised as ``LifecycleError`` (or the more specific errors of the
modules below) with a one-line message.
"""

from __future__ import annotations

from mlops.data_checks import feature_columns, require_columns
from mlops.settings import Settings
from mlops.summary import describe_asset
from mlops.targets.base import DataAsset, PipelineRun, Printer, Target


class LifecycleError(Exception):
    """A stage cannot go ahead; the message says why and what to do."""


def register_data(target: Target, settings: Settings) -> DataAsset:
    """Validate and register ``data.path``; the same bytes give the same version."""
    return target.register_data(settings.resolve(settings.data.path))


def pipeline_inputs(settings: Settings, asset: DataAsset) -> dict[str, object]:
    """The pipeline inputs the settings decide, for a run on ``asset``."""
    data = settings.data
    require_columns(asset.columns, data, where=f"data asset {asset.ref}")
    return {
        "target_column": data.target_column,
        "sensitive_column": data.sensitive_column,
        "positive_class": data.positive_class,
        "features": ",".join(feature_columns(asset.columns, data)),
        "test_size": settings.pipeline.test_size,
        "seed": settings.pipeline.seed,
    }


def train(
    target: Target, settings: Settings, show: Printer, data_version: str | None = None
) -> PipelineRun:
    """Run the training pipeline on a registered data version (the latest by default)."""
    asset = target.find_data(data_version)
    if asset is None:
        wanted = f"version {data_version} of " if data_version else ""
        raise LifecycleError(
            f"no {wanted}data asset {settings.data.asset_name!r} is registered; "
            "run `mlops register-data` first"
        )
    return target.run_pipeline(asset, pipeline_inputs(settings, asset), show)


def run(target: Target, settings: Settings, show: Printer) -> tuple[DataAsset, PipelineRun]:
    """The main job: register the data, then train on exactly that version."""
    asset = register_data(target, settings)
    show(describe_asset(asset))
    return asset, train(target, settings, show, data_version=asset.version)
