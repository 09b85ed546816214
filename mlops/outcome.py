"""What the main job (``mlops run``) did, for the summary and the workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.gate import Decision
from mlops.targets.base import DataAsset, ModelVersion, PipelineRun

if TYPE_CHECKING:  # for types only: mlops.deploy imports pandas
    from mlops.deploy import DeployResult


@dataclass(frozen=True)
class Outcome:
    """What the main job did: the run, the model, the verdict and the deploy."""

    asset: DataAsset
    run: PipelineRun
    model: ModelVersion | None = None
    decision: Decision | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    deployed: DeployResult | None = None
