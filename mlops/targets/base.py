"""The interface every target implements: the lifecycle verbs, written once.

A target is where the lifecycle runs: ``local`` (this machine) or ``azure``
(an Azure ML workspace). The CLI and the lifecycle functions talk only to
``Target``; ``mlops.targets.get_target`` picks the implementation named by the
settings.

Contract shared by all implementations:

- ``register_data`` validates the file first and registers nothing when it
  is invalid; the version is the first 12 hex digits of the file's SHA-256,
  so registering the same bytes twice returns the existing version.
- ``run_pipeline`` runs the pipeline job YAML with the given inputs, streams
  progress to the given printer, waits for the end and returns the run,
  failed or not. The pipeline's output ``metrics`` is a folder holding
  ``metrics.json`` (a flat object of floats); its output ``model`` is an
  MLflow model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.settings import Settings

Printer = Callable[[str], None]

VERSION_LENGTH = 12


@dataclass(frozen=True)
class DataAsset:
    """A registered, immutable version of a data file."""

    name: str
    version: str
    path: str  # where the target keeps the copy (local path or azureml:// URI)
    sha256: str
    rows: int
    columns: tuple[str, ...]
    created: str  # ISO 8601, UTC
    new: bool = False  # True when this call registered it, False when it existed

    @property
    def ref(self) -> str:
        """``name:version``, as runs and lineage tags name it."""
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class StepRun:
    name: str
    status: str  # "Completed", "Failed" or "NotStarted"
    seconds: float = 0.0
    exit_code: int | None = None
    log: str | None = None


@dataclass(frozen=True)
class PipelineRun:
    """One pipeline run as the target recorded it."""

    run_id: str
    status: str  # "Completed" or "Failed"
    data_asset: str  # "name:version"
    started: str
    seconds: float
    steps: tuple[StepRun, ...] = ()
    outputs: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tracking_run_id: str | None = None
    error: str | None = None


class RunNotFound(LookupError):
    """No run with that id on this target."""


class Target(ABC):
    """Where the lifecycle runs. Implementations take the settings and nothing else."""

    name: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def register_data(self, path: Path) -> DataAsset:
        """Validate ``path`` against the data settings and register it as a version
        of ``data.asset_name``. Raises ``mlops.data_checks.DataError`` when invalid."""

    @abstractmethod
    def find_data(self, version: str | None = None) -> DataAsset | None:
        """Version ``version`` of ``data.asset_name`` (the most recently
        registered one when None), or None when there is no such version."""

    @abstractmethod
    def run_pipeline(
        self, asset: DataAsset, inputs: Mapping[str, object], show: Printer
    ) -> PipelineRun:
        """Run ``pipeline.file`` on ``asset`` (bound to the pipeline input ``raw_data``)
        with the other pipeline ``inputs`` overridden; return the finished run."""

    @abstractmethod
    def list_runs(self) -> list[PipelineRun]:
        """Every pipeline run of this target, newest first."""

    @abstractmethod
    def get_run(self, run_id: str) -> PipelineRun:
        """The run ``run_id``; raises ``RunNotFound``."""
