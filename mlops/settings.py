"""The one settings file a fork edits (``mlops.yml``), loaded and validated.

``load_settings(path)`` returns a frozen ``Settings`` or raises
``SettingsError`` whose message names the file and the key at fault. Relative
paths in the file are resolved against the file's folder. The environment
variable ``MLOPS_TARGET`` overrides ``target``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.errors import UserError

DEFAULT_FILE = "mlops.yml"
TARGET_ENV = "MLOPS_TARGET"
ASSET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"


class SettingsError(UserError):
    """The settings file is missing or invalid; the message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSelection(_Section):
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class DataSettings(_Section):
    asset_name: str = Field(pattern=ASSET_NAME)
    path: Path
    target_column: str = Field(min_length=1)
    positive_class: str = "1"
    sensitive_column: str = Field(min_length=1)
    features: FeatureSelection = FeatureSelection()

    @field_validator("positive_class", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # YAML reads `1` and `true` as numbers and booleans; the data holds text.
        return str(value) if isinstance(value, int | float | bool) else value

    @model_validator(mode="after")
    def _columns_do_not_clash(self) -> DataSettings:
        if self.target_column == self.sensitive_column:
            raise ValueError("target_column and sensitive_column must be different columns")
        for key in ("include", "exclude"):
            clash = {self.target_column, self.sensitive_column} & set(getattr(self.features, key))
            if clash:
                raise ValueError(
                    f"features.{key} names {', '.join(sorted(clash))}: the target and the "
                    "sensitive column are never features"
                )
        return self


# scikit-learn and numpy's legacy generator take seeds in [0, 2**32).
MAX_SEED = 2**32 - 1


class PipelineSettings(_Section):
    file: Path
    # The metrics the evaluate step writes, with the way each improves.
    metrics: Path = Path("pipelines/src/metric_catalog.json")
    experiment_name: str = Field(min_length=1)
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = Field(default=42, ge=0, le=MAX_SEED)


class ModelSettings(_Section):
    name: str = Field(pattern=ASSET_NAME)


class LocalSettings(_Section):
    state_dir: Path = Path(".mlops")
    # Port of the local endpoint's scoring URL on 127.0.0.1.
    endpoint_port: int = Field(default=5050, ge=1024, le=65535)


Direction = Literal["higher", "lower"]


class ThresholdRule(_Section):
    """``metric`` must be at least ``min`` or at most ``max``; ``better`` says
    which way the metric improves (never assumed)."""

    metric: str = Field(min_length=1)
    better: Direction
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound_on_the_right_side(self) -> ThresholdRule:
        if (self.min is None) == (self.max is None):
            raise ValueError(f"rule for {self.metric}: give exactly one of min or max")
        # A floor on a lower-is-better metric passes worse models and fails better ones.
        wanted, given = ("min", "max") if self.better == "higher" else ("max", "min")
        if getattr(self, given) is not None:
            raise ValueError(
                f"rule for {self.metric}: better: {self.better} takes a "
                f"{'floor' if wanted == 'min' else 'ceiling'} ({wanted}), not {given}"
            )
        return self


class ImprovementRule(_Section):
    """The candidate must beat the champion on ``metric`` by ``min_delta``
    (in the metric's units, or as a fraction of the champion's value when
    ``relative``)."""

    metric: str = Field(min_length=1)
    better: Direction
    min_delta: float = Field(default=0.001, ge=0.0)
    relative: bool = False


class GateSettings(_Section):
    thresholds: tuple[ThresholdRule, ...] = ()
    fairness: tuple[ThresholdRule, ...] = ()
    improvement: ImprovementRule | None = None

    @model_validator(mode="after")
    def _has_rules(self) -> GateSettings:
        if not (self.thresholds or self.fairness or self.improvement):
            raise ValueError(
                "the gate has no rules and would promote nothing; add thresholds, fairness "
                "bounds or an improvement rule"
            )
        return self

    def rules(self) -> list[tuple[str, ThresholdRule | ImprovementRule]]:
        """Every rule with its key in the settings file (``gate.thresholds.0`` ...)."""
        named: list[tuple[str, ThresholdRule | ImprovementRule]] = [
            (f"gate.{kind}.{index}", rule)
            for kind in ("thresholds", "fairness")
            for index, rule in enumerate(getattr(self, kind))
        ]
        if self.improvement is not None:
            named.append(("gate.improvement", self.improvement))
        return named


ENDPOINT_NAME = r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$"


class EndpointSettings(_Section):
    # Azure ML online endpoint names: 3-32 letters, digits and hyphens, unique per region.
    name: str = Field(pattern=ENDPOINT_NAME)
    deployment: Path = Path("pipelines/endpoints/deployment.yml")
    # Rows of the candidate's test split sent to a new deployment before it takes traffic.
    smoke_rows: int = Field(default=20, ge=1, le=1000)
    # How long a command waits for another one changing the endpoint to finish.
    lock_wait_seconds: float = Field(default=900, ge=0)


class Settings(_Section):
    target: Literal["local", "azure"] = "local"
    data: DataSettings
    pipeline: PipelineSettings
    model: ModelSettings
    gate: GateSettings
    endpoint: EndpointSettings
    local: LocalSettings = LocalSettings()
    source: Path = Field(default=Path(DEFAULT_FILE), exclude=True)

    @property
    def root(self) -> Path:
        """The folder the settings file is in; relative paths start here."""
        return self.source.parent

    def resolve(self, path: Path) -> Path:
        """Return ``path`` made absolute against the settings file's folder."""
        return path if path.is_absolute() else (self.root / path).resolve()


def load_settings(path: Path | str = DEFAULT_FILE) -> Settings:
    """Read, validate and return the settings in ``path``."""
    path = Path(path).absolute()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found (pass --settings FILE)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SettingsError(f"{path}: not a readable YAML file: {error}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of settings at the top level")
    if os.environ.get(TARGET_ENV):
        raw = {**raw, "target": os.environ[TARGET_ENV]}
    try:
        return Settings.model_validate({**raw, "source": path})
    except ValidationError as error:
        raise SettingsError(_describe(path, error)) from None


def _describe(path: Path, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif item["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{key}: {message}")
    return f"{path}: " + "; ".join(problems)
