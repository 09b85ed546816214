"""The one settings file a fork edits (``mlops.yml``), loaded and validated.

``load_settings(path)`` returns a frozen ``Settings`` or raises
``SettingsError`` whose message names the file and the key at fault. Relative
paths in the file are resolved against the file's folder. The environment
variable ``MLOPS_TARGET`` overrides ``target``; ``MLOPS_ENV`` (or ``--env``)
picks one of ``environments``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.errors import UserError

DEFAULT_FILE = "mlops.yml"
TARGET_ENV = "MLOPS_TARGET"
ENV_VAR = "MLOPS_ENV"
DATASTORE_PREFIX = "azureml://"
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
    # A file on this machine, or (target: azure) a file in the workspace's storage:
    # azureml://datastores/<store>/paths/<file> (or the long azureml://subscriptions/... form).
    path: str = Field(min_length=1)
    target_column: str = Field(min_length=1)
    positive_class: str = "1"
    # None: no group column, so no fairness metrics.
    sensitive_column: str | None = Field(default=None, min_length=1)
    features: FeatureSelection = FeatureSelection()

    @field_validator("positive_class", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # YAML reads `1` and `true` as a number and a boolean; labels are compared
        # as text, booleans as `true`/`false` (see pipelines/src/contract.py).
        if isinstance(value, bool):
            return str(value).lower()
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _columns_do_not_clash(self) -> DataSettings:
        if self.target_column == self.sensitive_column:
            raise ValueError("target_column and sensitive_column must be different columns")
        roles = {self.target_column} | ({self.sensitive_column} if self.sensitive_column else set())
        for key in ("include", "exclude"):
            clash = roles & set(getattr(self.features, key))
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
    # Port of the local endpoint's scoring URL on 127.0.0.1.
    endpoint_port: int = Field(default=5050, ge=1024, le=65535)


class AzureSettings(_Section):
    """What a fork fixes per project for ``target: azure``; the workspace itself
    comes from the environment (see ``mlops.targets.azure.workspace``)."""

    # Each pipeline step is stopped by Azure ML after this long.
    job_timeout_minutes: int = Field(default=120, ge=1, le=10080)
    # Override ``instance_type``/``instance_count`` of ``endpoint.deployment`` when set.
    instance_type: str | None = Field(default=None, min_length=1)
    instance_count: int | None = Field(default=None, ge=1, le=20)
    # How often a running pipeline job is polled for its steps' status.
    poll_seconds: float = Field(default=10.0, ge=0.0, le=300.0)


class EnvironmentSettings(_Section):
    # The local endpoint of this environment answers on 127.0.0.1:<endpoint_port>.
    endpoint_port: int = Field(ge=1024, le=65535)


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


class PlausibilityRule(_Section):
    """A candidate whose ``metric`` is at or beyond ``implausible_at`` (in the
    direction ``better`` says it improves) is refused as too good to be true:
    on real data that is nearly always a feature that leaks the label."""

    metric: str = Field(min_length=1)
    better: Direction
    implausible_at: float

    def bound(self) -> str:
        return f"{'<' if self.better == 'higher' else '>'} {self.implausible_at:g}"

    def plausible(self, value: float) -> bool:
        if self.better == "higher":
            return value < self.implausible_at
        return value > self.implausible_at


# On by default: a fork that leaves the label in its features is stopped, not promoted.
DEFAULT_PLAUSIBILITY = (PlausibilityRule(metric="auc", better="higher", implausible_at=0.995),)


class GateSettings(_Section):
    thresholds: tuple[ThresholdRule, ...] = ()
    fairness: tuple[ThresholdRule, ...] = ()
    plausibility: tuple[PlausibilityRule, ...] = DEFAULT_PLAUSIBILITY
    improvement: ImprovementRule | None = None

    @model_validator(mode="after")
    def _plausible_bounds_leave_room(self) -> GateSettings:
        # A plausibility bound at or inside a threshold on the same metric leaves no
        # value that passes both: every model would be refused.
        for index, rule in enumerate(self.plausibility):
            for number, floor in enumerate(self.thresholds):
                bound = floor.min if rule.better == "higher" else floor.max
                if floor.metric != rule.metric or floor.better != rule.better or bound is None:
                    continue
                if not rule.plausible(bound):
                    raise ValueError(
                        f"plausibility.{index}.implausible_at: {rule.implausible_at:g} leaves "
                        f"no {rule.metric} that passes thresholds.{number} ({rule.metric} "
                        f"{'>=' if rule.better == 'higher' else '<='} {bound:g}) too; "
                        "put the plausibility bound beyond the threshold"
                    )
        return self

    @model_validator(mode="after")
    def _has_rules(self) -> GateSettings:
        if not (self.thresholds or self.fairness or self.improvement):
            raise ValueError(
                "the gate has no rules and would promote nothing; add thresholds, fairness "
                "bounds or an improvement rule"
            )
        return self

    def rules(self) -> list[tuple[str, ThresholdRule | PlausibilityRule | ImprovementRule]]:
        """Every rule with its key in the settings file (``gate.thresholds.0`` ...)."""
        named: list[tuple[str, ThresholdRule | PlausibilityRule | ImprovementRule]] = [
            (f"gate.{kind}.{index}", rule)
            for kind in ("thresholds", "fairness", "plausibility")
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
    # Reports, the sample request and each target's own state (on Azure, the
    # downloaded run outputs) live here.
    state_dir: Path = Path(".mlops")
    # Stand-ins for the stacks' environments, picked with --env NAME or MLOPS_ENV.
    environments: dict[str, EnvironmentSettings] = Field(default_factory=dict)
    # The environment picked (None: none, the state folder itself).
    env: str | None = Field(default=None, exclude=True)
    local: LocalSettings = LocalSettings()
    azure: AzureSettings = AzureSettings()
    source: Path = Field(default=Path(DEFAULT_FILE), exclude=True)

    @model_validator(mode="after")
    def _fairness_needs_groups(self) -> Settings:
        if self.gate.fairness and self.data.sensitive_column is None:
            raise ValueError(
                "gate.fairness: fairness rules need data.sensitive_column, the column whose "
                "groups they compare; set data.sensitive_column or remove gate.fairness"
            )
        return self

    @field_validator("environments")
    @classmethod
    def _environment_names_are_folder_names(
        cls, environments: dict[str, EnvironmentSettings]
    ) -> dict[str, EnvironmentSettings]:
        # Each name becomes a folder, state_dir/envs/<name>: a slash or a leading
        # dot would put that folder elsewhere.
        for name in environments:
            if not re.fullmatch(ASSET_NAME, name):
                raise ValueError(
                    f"{name!r} is not an environment name; use up to 255 letters, digits, "
                    "'_', '.' and '-', starting with a letter or a digit"
                )
        return environments

    @model_validator(mode="after")
    def _env_is_one_of_the_environments(self) -> Settings:
        if self.env is not None and self.env not in self.environments:
            known = ", ".join(self.environments) or "none"
            raise ValueError(
                f"environments: no environment {self.env!r} (from --env or {ENV_VAR}); "
                f"the settings name {known}"
            )
        return self

    @property
    def root(self) -> Path:
        """The folder the settings file is in; relative paths start here."""
        return self.source.parent

    def data_source(self) -> Path | str:
        """``data.path``: a ``DATASTORE_PREFIX`` URI as written, else a resolved path."""
        path = self.data.path
        return path if path.startswith(DATASTORE_PREFIX) else self.resolve(Path(path))

    def state_folder(self) -> Path:
        """This environment's state: ``state_dir/envs/<env>``, or ``state_dir``
        itself when no environment is picked."""
        base = self.resolve(self.state_dir)
        return base / "envs" / self.env if self.env else base

    def registry_folder(self) -> Path:
        """The local registry, shared by every environment: ``state_dir/registry``."""
        return self.resolve(self.state_dir) / "registry"

    def endpoint_port(self) -> int:
        """The port of this environment's local endpoint."""
        if self.env:
            return self.environments[self.env].endpoint_port
        return self.local.endpoint_port

    def resolve(self, path: Path) -> Path:
        """Return ``path`` made absolute against the settings file's folder."""
        return path if path.is_absolute() else (self.root / path).resolve()


class _Loader(yaml.SafeLoader):
    """YAML as version 1.2 reads booleans: only true and false. PyYAML follows
    1.1, where `yes`, `no`, `on` and `off` are booleans too, so a label written
    `positive_class: yes` would arrive as True."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_settings(path: Path | str = DEFAULT_FILE, env: str | None = None) -> Settings:
    """Read, validate and return the settings in ``path``, for environment ``env``
    (default: ``MLOPS_ENV``, else none)."""
    path = Path(path).absolute()
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found (pass --settings FILE)") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: {_yaml_problem(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: not a readable YAML file: {error}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of settings at the top level")
    if os.environ.get(TARGET_ENV):
        raw = {**raw, "target": os.environ[TARGET_ENV]}
    env = env or os.environ.get(ENV_VAR) or None
    if env:
        raw = {**raw, "env": env}
    try:
        return Settings.model_validate({**raw, "source": path})
    except ValidationError as error:
        raise SettingsError(_describe(path, error)) from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's error on one line: where (line and column, counted from 1), what,
    and the construct it was reading (PyYAML spreads this over several lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return "not valid YAML: " + " ".join(str(error).split())
    text = f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start is not None and (start.line, start.column) != (mark.line, mark.column):
        text += f" ({context} that starts at line {start.line + 1}, column {start.column + 1})"
    elif context:
        text += f" ({context})"
    return text + "; fix the syntax there"


# Keys that moved between sections: old key -> new key.
MOVED_KEYS = {"local.state_dir": "state_dir"}


def _describe(path: Path, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            moved = MOVED_KEYS.get(key)
            message = (
                f"this key is now the top-level key {moved}; move it there"
                if moved
                else "unknown key (check its spelling)"
            )
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "tuple_type":
            message = "expected a list (write [] for none)"
        # A check across sections names its keys in the message itself.
        problems.append(f"{key}: {message}" if item["loc"] else message)
    return f"{path}: " + "; ".join(problems)
