"""The settings files a fork edits, loaded and validated.

A fork holds its own settings in ``mlops.yml`` (target, state, environments,
local, azure and defaults for every model) and each model's in
``models/<name>/mlops.yml`` (kind, data, pipeline, model, gate, endpoint).
``load_settings(path, model=NAME)`` returns the frozen ``Settings`` of one
model, the two files read together, or raises ``SettingsError`` whose message
names the file and the key at fault. A relative path is resolved against the
folder of the file that names it; a default one against the fork's folder.
``MLOPS_TARGET`` overrides ``target``; ``MLOPS_ENV`` (or ``--env``) picks one
of ``environments``; ``MLOPS_MODEL`` (or ``--model``) picks the model, which
may be left out when the fork has one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.errors import UserError
from mlops.kinds import DEFAULT_KIND, KINDS, get_kind

DEFAULT_FILE = "mlops.yml"
MODELS_FOLDER = "models"
TARGET_ENV = "MLOPS_TARGET"
ENV_VAR = "MLOPS_ENV"
MODEL_VAR = "MLOPS_MODEL"
# A model's name is its folder's, and the default of its endpoint's name: so
# within Azure ML's rules for those (3-32 characters; letters, digits, hyphens).
MODEL_NAME = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
DATASTORE_PREFIX = "azureml://"
ASSET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$"
# finetune.local_base_model: the small model mlops builds (mlops/base_models.py).
TINY_BASE_MODEL = "tiny"


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
    # The column a tabular kind predicts (required for those; none for a kind
    # whose data are examples, not a table: see mlops.kinds).
    target_column: str | None = Field(default=None, min_length=1)
    # The binary classifier's positive class (default "1"); None for the other kinds.
    positive_class: str | None = None
    # None: no group column, so no fairness metrics.
    sensitive_column: str | None = Field(default=None, min_length=1)
    features: FeatureSelection = FeatureSelection()
    # The model's kind (from its top-level ``kind``): what the label column holds.
    kind: str = DEFAULT_KIND

    @field_validator("positive_class", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        # YAML reads `1` and `true` as a number and a boolean; labels are compared
        # as text, booleans as `true`/`false` (see pipelines/src/contract.py).
        if isinstance(value, bool):
            return str(value).lower()
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _columns_as_the_kind_has_them(self) -> DataSettings:
        kind = KINDS.get(self.kind)
        if kind is not None and not kind.family.labelled:
            given = [
                key
                for key, value in (
                    ("target_column", self.target_column),
                    ("sensitive_column", self.sensitive_column),
                    ("features", self.features != FeatureSelection()),
                )
                if value
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: a {kind.name} model's data are examples, not "
                    "columns; remove the key"
                )
            return self
        if self.target_column is None:
            raise ValueError(
                "target_column: required for a model of a table's column; name the column "
                "the model predicts"
            )
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
    file: Path = Path("pipelines/train.yml")
    # The metrics the evaluate step writes, with the way each improves (default:
    # the catalogue of the model's kind, see mlops.kinds).
    metrics: Path
    experiment_name: str = Field(min_length=1)
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = Field(default=42, ge=0, le=MAX_SEED)
    # The evaluate step's permutation importance: at most this many test rows
    # (drawn with the seed), each feature shuffled this many times.
    explain_rows: int = Field(default=200, ge=1)
    explain_repeats: int = Field(default=5, ge=1)
    # SHAP values of each feature on at most this many test rows (0: none; needs shap).
    shap_rows: int = Field(default=0, ge=0, le=100_000)


class ModelSettings(_Section):
    name: str = Field(pattern=ASSET_NAME)


class LocalSettings(_Section):
    # Port of the local endpoint's scoring URL on 127.0.0.1.
    endpoint_port: int = Field(default=5050, ge=1024, le=65535)
    # Start a run's later steps from an interpreter that imported their libraries
    # once (mlops/targets/local/warm_steps.py); false: every step with bash.
    warm_steps: bool = True


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


class ExplanationRule(_Section):
    """On the ``top`` features the candidate relies on most (by the evaluate step's
    permutation importance): at least ``min_overlap`` of them are among the
    champion's ``top``, and none of ``forbidden`` (a proxy of a protected
    attribute, say) is one of them."""

    top: int = Field(default=5, ge=1, le=100)
    min_overlap: int | None = Field(default=None, ge=1)
    forbidden: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _says_something(self) -> ExplanationRule:
        if self.min_overlap is None and not self.forbidden:
            raise ValueError("give min_overlap, forbidden or both: the rule checks nothing")
        if self.min_overlap is not None and self.min_overlap > self.top:
            raise ValueError(
                f"min_overlap {self.min_overlap} is more than the top {self.top} features "
                "compared: no candidate could pass"
            )
        return self


class GateSettings(_Section):
    thresholds: tuple[ThresholdRule, ...] = ()
    fairness: tuple[ThresholdRule, ...] = ()
    # Left out of a model's file, its kind's (mlops.kinds): a binary classifier
    # that leaves the label in its features is stopped, not promoted.
    plausibility: tuple[PlausibilityRule, ...] = ()
    improvement: ImprovementRule | None = None
    # Rules on what the candidate relies on (none by default).
    explanations: tuple[ExplanationRule, ...] = ()

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
    # Added to the fork's local ports: each model's endpoints answer on ports of their own.
    port_offset: int = Field(default=0, ge=0, le=60000)


NumericalDriftMetric = Literal[
    "jensen_shannon_distance",
    "normalized_wasserstein_distance",
    "population_stability_index",
    "two_sample_kolmogorov_smirnov_test",
]
CategoricalDriftMetric = Literal[
    "jensen_shannon_distance", "population_stability_index", "pearsons_chi_squared_test"
]
QualityMetric = Literal["null_value_rate", "data_type_error_rate", "out_of_bounds_rate"]
# A threshold: a distance or an index (0 or more), a p-value or a rate (0 to 1).
Threshold = Annotated[float, Field(ge=0.0)]
_P_VALUES = ("two_sample_kolmogorov_smirnov_test", "pearsons_chi_squared_test")


def _bounded(thresholds: Mapping[str, float]) -> Mapping[str, float]:
    for metric, value in thresholds.items():
        if (metric in _P_VALUES or metric.endswith("_rate")) and value > 1:
            raise ValueError(f"{metric}: {value} is above 1; a p-value or a rate is 0 to 1")
    return thresholds


class PredictionDriftSettings(_Section):
    """Thresholds of the prediction drift signal (Azure ML's
    PredictionDriftMetricThreshold), per metric: the answers' ``prediction``
    against the model's own answers on its test split, numerical or
    categorical as the kind predicts a number or a class."""

    numerical: dict[NumericalDriftMetric, Threshold] = {"normalized_wasserstein_distance": 0.1}
    categorical: dict[CategoricalDriftMetric, Threshold] = {"jensen_shannon_distance": 0.1}

    @field_validator("numerical", "categorical")
    @classmethod
    def _p_values_and_rates(cls, thresholds: dict) -> dict:
        return _bounded(thresholds)


class DataDriftSettings(PredictionDriftSettings):
    """Thresholds of the data drift signal (Azure ML's DataDriftMetricThreshold):
    per metric, for every numerical and every categorical feature; ``features``
    names thresholds of its own for a feature (all of its metrics replaced)."""

    features: dict[str, dict[NumericalDriftMetric | CategoricalDriftMetric, Threshold]] = {}


class DataQualitySettings(_Section):
    """Thresholds of the data quality signal (Azure ML's DataQualityMetricThreshold)."""

    numerical: dict[QualityMetric, Threshold] = {
        "null_value_rate": 0.05,
        "data_type_error_rate": 0.0,
        "out_of_bounds_rate": 0.05,
    }
    categorical: dict[QualityMetric, Threshold] = {
        "null_value_rate": 0.05,
        "data_type_error_rate": 0.0,
        "out_of_bounds_rate": 0.05,
    }

    @field_validator("numerical", "categorical")
    @classmethod
    def _rates(cls, thresholds: dict) -> dict:
        return _bounded(thresholds)


class MonitorScheduleSettings(_Section):
    """Azure ML's own model monitor of the serving deployment: the
    ``MonitorSchedule`` that ``mlops monitor enable`` creates, with the signals
    and thresholds above, and that every deploy and rollback re-points at the
    deployment taking the traffic while ``enabled``. The local target has no
    scheduler: there, and beside it on Azure, monitor.yml runs ``mlops monitor``."""

    enabled: bool = False
    # When it runs: every `interval` days at `time`, UTC.
    interval: int = Field(default=1, ge=1, le=30)
    time: str = Field(default="05:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # Who Azure emails on a breach (none: the breach shows in the studio only).
    emails: list[str] = []
    # The serverless Spark compute its jobs run on.
    instance_type: str = "standard_e4s_v3"
    runtime_version: str = "3.4"


class MonitorSettings(_Section):
    # The share of requests whose inputs and outputs the serving deployment
    # collects (the data_collector's sampling_rate, on both targets).
    sampling_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    # Below this many collected rows in the window nothing is judged.
    min_rows: int = Field(default=100, ge=1)
    # A feature's kind where Azure's rule (integers with distinct values under 5 %
    # of the rows are categorical) does not suit: name -> numerical | categorical
    # (the signals' feature_type_override).
    feature_types: dict[str, Literal["numerical", "categorical"]] = {}
    data_drift: DataDriftSettings = DataDriftSettings()
    prediction_drift: PredictionDriftSettings = PredictionDriftSettings()
    data_quality: DataQualitySettings = DataQualitySettings()
    schedule: MonitorScheduleSettings = MonitorScheduleSettings()


# A model catalog asset: what Azure's serverless fine-tuning starts from.
REGISTRY_MODEL_PREFIX = "azureml://registries/"
# What only the pipeline's own train step takes.
PIPELINE_ONLY = frozenset(
    {"instance_count", "lora_rank", "lora_alpha", "lora_dropout", "target_modules"}
)


class FinetuneSettings(_Section):
    """How a text-generation model is fine-tuned (``pipelines/finetune.yml``)."""

    # The model fine-tuned on Azure: a model catalog asset
    # (azureml://registries/azureml/models/<name>/versions/<v>) or any MLflow
    # transformers model registered in the workspace (azureml:<name>:<version>).
    base_model: str = Field(pattern=r"^azureml:")
    # The local target's base model: a folder holding an MLflow transformers model
    # or a Hugging Face one, or `tiny`: a small GPT-2-style model built from
    # nothing on first use, its tokenizer trained on data.path (seconds on a CPU;
    # real mechanics, no real quality: no weights can be downloaded here).
    local_base_model: str = Field(default=TINY_BASE_MODEL, min_length=1)
    # Azure's fine-tuning: `pipeline` runs pipelines/finetune.yml on the GPU
    # cluster; `serverless` asks Azure ML's serverless fine-tuning for a catalog
    # model that offers it (epochs, learning_rate and batch_size are what it
    # takes), then evaluates its model with the same evaluate step. The local
    # target has no serverless fine-tuning: it runs the pipeline either way.
    backend: Literal["pipeline", "serverless"] = "pipeline"
    # The train step's nodes on Azure (distribution: pytorch, one process each).
    instance_count: int = Field(default=1, ge=1, le=64)
    # LoRA: the adapters' rank, their scale (alpha / rank) and dropout, and the
    # layers they adapt: names, comma-separated, or all-linear (every linear layer
    # but the output, whatever the architecture).
    lora_rank: int = Field(default=8, ge=1)
    lora_alpha: int = Field(default=16, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0.0)
    target_modules: str = Field(default="all-linear", min_length=1)
    epochs: int = Field(default=3, ge=1)
    learning_rate: float = Field(default=2e-4, gt=0.0)
    batch_size: int = Field(default=16, ge=1)
    # Tokens of prompt and completion together; longer examples are cut.
    max_seq_length: int = Field(default=512, ge=8)
    # The evaluate step: tokens generated per held-out prompt, and how many prompts.
    max_new_tokens: int = Field(default=32, ge=1)
    generate_examples: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _serverless_takes_a_catalog_model(self) -> FinetuneSettings:
        if self.backend != "serverless":
            return self
        if not self.base_model.startswith(REGISTRY_MODEL_PREFIX):
            raise ValueError(
                f"finetune.base_model {self.base_model!r}: serverless fine-tuning starts from "
                "a model catalog asset (azureml://registries/<registry>/models/<name>/"
                "versions/<version>); name one, or set finetune.backend: pipeline"
            )
        chosen = sorted(PIPELINE_ONLY & self.model_fields_set)
        if chosen:
            keys = ", ".join(f"finetune.{key}" for key in chosen)
            raise ValueError(
                f"{keys}: serverless fine-tuning chooses these itself (it takes epochs, "
                "learning_rate and batch_size); remove them, or set finetune.backend: pipeline"
            )
        return self


class CardSettings(_Section):
    """What the model card says of the model that no record can: what it is for,
    and what it must not be used for (``mlops.model_card``)."""

    intended_use: str = ""
    limitations: str = ""


class Settings(_Section):
    """One model's settings as every verb reads them: its own file
    (``models/<name>/mlops.yml``: kind, data, pipeline, model, gate, endpoint,
    monitor)
    over the fork's (the root ``mlops.yml``: target, state, environments,
    local, azure, defaults)."""

    target: Literal["local", "azure"] = "local"
    kind: str = DEFAULT_KIND
    data: DataSettings
    pipeline: PipelineSettings
    model: ModelSettings
    gate: GateSettings
    endpoint: EndpointSettings
    monitor: MonitorSettings = MonitorSettings()
    card: CardSettings = CardSettings()
    # A text-generation model's fine-tuning (required for it, refused for the others).
    finetune: FinetuneSettings | None = None
    # Reports, the sample request and each target's own state (on Azure, the
    # downloaded run outputs) live here.
    state_dir: Path = Path(".mlops")
    # Stand-ins for the stacks' environments, picked with --env NAME or MLOPS_ENV.
    environments: dict[str, EnvironmentSettings] = Field(default_factory=dict)
    # The environment picked (None: none, the state folder itself).
    env: str | None = Field(default=None, exclude=True)
    local: LocalSettings = LocalSettings()
    azure: AzureSettings = AzureSettings()
    # The model's name in the fork: its folder under models/.
    model_id: str = Field(default="model", exclude=True)
    # The model's settings file, and the fork's.
    source: Path = Field(default=Path(DEFAULT_FILE), exclude=True)
    fork_source: Path = Field(default=Path(DEFAULT_FILE), exclude=True)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"no kind {kind!r}; the kinds are {', '.join(KINDS)}")
        return kind

    @model_validator(mode="after")
    def _finetune_for_what_fine_tunes(self) -> Settings:
        fine_tunes = get_kind(self.kind).family.fine_tunes
        if fine_tunes and self.finetune is None:
            raise ValueError(
                f"finetune: required for a {self.kind} model (at least finetune.base_model, "
                "the model catalog asset it starts from)"
            )
        if not fine_tunes and self.finetune is not None:
            raise ValueError(f"finetune: a {self.kind} model is trained, not fine-tuned; remove it")
        return self

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

    @model_validator(mode="after")
    def _ports_fit(self) -> Settings:
        offset = self.endpoint.port_offset
        for key, port in base_ports(self.local, self.environments):
            if port + offset > 65535:
                raise ValueError(
                    f"endpoint.port_offset: {offset} puts {key}.endpoint_port {port} past "
                    "65535; choose a smaller offset"
                )
        return self

    @property
    def root(self) -> Path:
        """The fork's folder (where its ``mlops.yml`` is); default paths start here."""
        return self.fork_source.parent

    def data_source(self) -> Path | str:
        """``data.path``: a ``DATASTORE_PREFIX`` URI as written, else the file, resolved
        against the folder of the model's settings file."""
        path = self.data.path
        if path.startswith(DATASTORE_PREFIX):
            return path
        return Path(path) if Path(path).is_absolute() else (self.source.parent / path).resolve()

    def state_folder(self) -> Path:
        """This model's state in this environment: ``state_dir/models/<model>``, or
        ``state_dir/envs/<env>/models/<model>`` when an environment is picked."""
        base = self.resolve(self.state_dir)
        return (base / "envs" / self.env if self.env else base) / "models" / self.model_id

    def registry_folder(self) -> Path:
        """The local registry, shared by every environment and model: ``state_dir/registry``."""
        return self.resolve(self.state_dir) / "registry"

    def endpoint_port(self) -> int:
        """The port of this model's local endpoint in this environment: the
        environment's (or ``local``'s) port plus ``endpoint.port_offset``."""
        base = self.environments[self.env].endpoint_port if self.env else self.local.endpoint_port
        return base + self.endpoint.port_offset

    def port_setting(self) -> str:
        """The keys the port of ``endpoint_port`` comes from, as a message names them."""
        key = f"environments.{self.env}" if self.env else "local"
        offset = " + endpoint.port_offset" if self.endpoint.port_offset else ""
        return f"{key}.endpoint_port{offset}"

    def resolve(self, path: Path) -> Path:
        """Return ``path`` made absolute against the fork's folder (the model's own
        paths are made absolute against its folder when it is read)."""
        return path if path.is_absolute() else (self.root / path).resolve()


def base_ports(
    local: LocalSettings, environments: Mapping[str, EnvironmentSettings]
) -> list[tuple[str, int]]:
    """Each port a model's offset is added to, with the key that sets it."""
    return [("local", local.endpoint_port)] + [
        (f"environments.{name}", env.endpoint_port) for name, env in environments.items()
    ]


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


# The root mlops.yml holds these; a model's own file holds MODEL_KEYS.
FORK_KEYS = ("target", "state_dir", "environments", "local", "azure", "defaults")
MODEL_KEYS = (
    "kind", "data", "pipeline", "model", "gate", "endpoint", "monitor", "card", "finetune",
)  # fmt: skip
# Paths a model's file may name, each relative to that file's folder.
# data.path stays as written (messages quote it so); data_source resolves it.
MODEL_PATHS = (("pipeline", "file"), ("pipeline", "metrics"), ("endpoint", "deployment"))


class PipelineDefaults(_Section):
    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = Field(default=42, ge=0, le=MAX_SEED)
    # The evaluate step's permutation importance: at most this many test rows
    # (drawn with the seed), each feature shuffled this many times.
    explain_rows: int = Field(default=200, ge=1)
    explain_repeats: int = Field(default=5, ge=1)
    # SHAP values of each feature on at most this many test rows (0: none; needs shap).
    shap_rows: int = Field(default=0, ge=0, le=100_000)


class EndpointDefaults(_Section):
    smoke_rows: int = Field(default=20, ge=1, le=1000)
    lock_wait_seconds: float = Field(default=900, ge=0)


class ModelDefaults(_Section):
    """What every model of the fork takes unless its own file says otherwise."""

    pipeline: PipelineDefaults = PipelineDefaults()
    endpoint: EndpointDefaults = EndpointDefaults()


class ForkSettings(_Section):
    """The fork's own settings: the root ``mlops.yml``."""

    target: Literal["local", "azure"] = "local"
    state_dir: Path = Path(".mlops")
    environments: dict[str, EnvironmentSettings] = Field(default_factory=dict)
    local: LocalSettings = LocalSettings()
    azure: AzureSettings = AzureSettings()
    defaults: ModelDefaults = ModelDefaults()


@dataclass(frozen=True)
class Fork:
    """The fork: its settings file, what that holds, and its models' files."""

    source: Path
    settings: ForkSettings
    raw: Mapping
    models: Mapping[str, Path]  # model name -> its mlops.yml, by name

    @property
    def root(self) -> Path:
        return self.source.parent

    def pick(self, model: str | None = None) -> str:
        """The model ``model`` names (default: ``MLOPS_MODEL``, else the fork's one
        model); raises ``SettingsError`` naming the models there are."""
        model = model or os.environ.get(MODEL_VAR) or None
        known = ", ".join(self.models) or "none"
        if model is None:
            if len(self.models) == 1:
                return next(iter(self.models))
            if not self.models:
                raise SettingsError(
                    f"{_shown(self.root / MODELS_FOLDER)}: no model (no <name>/{DEFAULT_FILE}); "
                    "add one with `mlops new-model NAME --kind KIND`"
                )
            raise SettingsError(
                f"the fork has {len(self.models)} models ({known}); pick one with "
                f"--model NAME or {MODEL_VAR}=NAME"
            )
        if model not in self.models:
            raise SettingsError(
                f"no model {model!r} in {_shown(self.root / MODELS_FOLDER)} (from --model or "
                f"{MODEL_VAR}; the models are: {known}); add it with "
                f"`mlops new-model {model} --kind KIND`"
            )
        if not re.fullmatch(MODEL_NAME, model):
            raise SettingsError(
                f"{_shown(self.models[model].parent)}: {model!r} is not a model name; name the "
                "folder with 3 to 32 lower-case letters, digits and hyphens, starting with a "
                "letter (it names the model's endpoint and registry entry by default)"
            )
        return model


def load_fork(path: Path | str = DEFAULT_FILE) -> Fork:
    """Read and validate the fork's ``mlops.yml`` at ``path`` and find its models
    (``models/<name>/mlops.yml`` beside it). Raises ``SettingsError``."""
    path = Path(path).absolute()
    raw = read_yaml(path, "pass --settings FILE")
    misplaced = [key for key in MODEL_KEYS if key in raw]
    if misplaced:
        raise SettingsError(
            f"{_shown(path)}: {', '.join(misplaced)}: a model's keys, not the fork's; move "
            f"them to {MODELS_FOLDER}/<name>/{DEFAULT_FILE} (one folder per model, with "
            "kind: binary-classification for a model of today's kind; see the README's "
            '"Add a model")'
        )
    if os.environ.get(TARGET_ENV):
        raw = {**raw, "target": os.environ[TARGET_ENV]}
    try:
        settings = ForkSettings.model_validate(raw)
    except ValidationError as error:
        raise SettingsError(_describe(path, error)) from None
    folder = path.parent / MODELS_FOLDER
    found = (
        sorted(f.parent.name for f in folder.glob(f"*/{DEFAULT_FILE}")) if folder.is_dir() else []
    )
    models = {name: folder / name / DEFAULT_FILE for name in found}
    return Fork(path, settings, raw, models)


def load_settings(
    path: Path | str = DEFAULT_FILE, env: str | None = None, model: str | None = None
) -> Settings:
    """The settings of model ``model`` (see ``Fork.pick``) of the fork whose
    ``mlops.yml`` is ``path``, in environment ``env`` (default: ``MLOPS_ENV``,
    else none). Raises ``SettingsError`` naming the file and the key at fault."""
    fork = load_fork(path)
    name = fork.pick(model)
    source = fork.models[name]
    own = read_yaml(source)
    shared = {key: value for key, value in fork.raw.items() if key != "defaults"}
    merged = {**shared, **model_mapping(fork, name, own, source)}
    env = env or os.environ.get(ENV_VAR) or None
    if env:
        merged["env"] = env
    merged.update(model_id=name, source=source, fork_source=fork.source)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        raise SettingsError(_describe_model(fork.source, source, error)) from None
    _check_beside_others(fork, settings)
    return settings


def read_yaml(path: Path, missing: str = "") -> dict:
    """The mapping in the YAML file ``path``; raises ``SettingsError`` naming it."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        hint = f" ({missing})" if missing else ""
        raise SettingsError(f"{_shown(path)}: settings file not found{hint}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{_shown(path)}: {_yaml_problem(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{_shown(path)}: not a readable YAML file: {error}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{_shown(path)}: expected a mapping of settings at the top level")
    return raw


def model_mapping(fork: Fork, name: str, raw: Mapping, source: Path) -> dict:
    """Model ``name``'s file (``raw``, read from ``source``) with what it leaves out
    filled in: its kind's gate and metric catalogue, the fork's defaults, and names
    after the model's; its own paths made absolute against its folder."""
    where = _shown(source)
    fork_keys = [key for key in raw if key in FORK_KEYS]
    if fork_keys:
        raise SettingsError(
            f"{where}: {', '.join(fork_keys)}: the fork's keys, not a model's; set them in "
            f"{_shown(fork.source)}"
        )
    if "kind" not in raw:
        raise SettingsError(f"{where}: kind: required key is missing (one of {', '.join(KINDS)})")
    mapping = {key: (dict(v) if isinstance(v, Mapping) else v) for key, v in raw.items()}
    kind = KINDS.get(mapping["kind"]) if isinstance(mapping["kind"], str) else None
    for section, key in MODEL_PATHS:
        value = (
            mapping.get(section, {}).get(key) if isinstance(mapping.get(section), dict) else None
        )
        if isinstance(value, str) and value and not value.startswith(DATASTORE_PREFIX):
            mapping[section][key] = str((source.parent / value).resolve())
    data = mapping.get("data")
    if isinstance(data, dict) and kind is not None:
        if "kind" in data:
            raise SettingsError(f"{where}: data.kind: unknown key (the kind is the top-level kind)")
        if kind.positive_class:
            data.setdefault("positive_class", "1")
        elif data.get("positive_class") is not None:
            raise SettingsError(
                f"{where}: data.positive_class: a {kind.name} model has no positive class; "
                "remove the key"
            )
        data["kind"] = kind.name
    defaults = fork.settings.defaults
    pipeline = mapping.setdefault("pipeline", {})
    if isinstance(pipeline, dict):
        pipeline.setdefault("experiment_name", name)
        pipeline.setdefault("test_size", defaults.pipeline.test_size)
        pipeline.setdefault("seed", defaults.pipeline.seed)
        pipeline.setdefault("explain_rows", defaults.pipeline.explain_rows)
        pipeline.setdefault("explain_repeats", defaults.pipeline.explain_repeats)
        pipeline.setdefault("shap_rows", defaults.pipeline.shap_rows)
        if kind is not None:
            pipeline.setdefault("metrics", str(fork.root / kind.catalog()))
            pipeline.setdefault("file", kind.family.pipeline_file)
    model = mapping.setdefault("model", {})
    if isinstance(model, dict):
        model.setdefault("name", name)
    endpoint = mapping.setdefault("endpoint", {})
    if isinstance(endpoint, dict):
        endpoint.setdefault("name", name)
        endpoint.setdefault("smoke_rows", defaults.endpoint.smoke_rows)
        endpoint.setdefault("lock_wait_seconds", defaults.endpoint.lock_wait_seconds)
        if kind is not None:
            endpoint.setdefault("deployment", kind.family.deployment_file)
    if kind is not None:
        grouped = isinstance(data, dict) and data.get("sensitive_column") is not None
        gate = mapping.setdefault("gate", default_gate(kind.name, groups=grouped))
        if isinstance(gate, dict):
            gate.setdefault("plausibility", [dict(rule) for rule in kind.plausibility])
    return mapping


def default_gate(kind: str, *, groups: bool) -> dict:
    """The gate a new model of ``kind`` starts with (fairness only with ``groups``)."""
    gate = {key: value for key, value in get_kind(kind).gate.items()}
    if not groups:
        gate["fairness"] = []
    return gate


def _check_beside_others(fork: Fork, settings: Settings) -> None:
    """Refuse a model whose endpoint, registry name, experiment, data asset or local
    ports are another model's of the fork: each model's state never meets another's."""
    where = _shown(settings.source)
    mine = _claims(fork, settings.model_id, settings)
    for other, path in fork.models.items():
        if other == settings.model_id:
            continue
        try:
            theirs = _claims(fork, other, None, read_yaml(path))
        except SettingsError:
            continue  # that model's own commands say what is wrong with it
        for key, value in mine.items():
            if key == "ports":
                shared = sorted(value & theirs[key])
                if shared:
                    raise SettingsError(
                        f"{where}: endpoint.port_offset: {settings.endpoint.port_offset} gives "
                        f"port {shared[0]}, which model {other} ({_shown(path)}) takes too; "
                        "give each model an offset of its own (10, 20, ...)"
                    )
            elif key == "data.asset_name" and value and theirs[key]:
                if value[0] == theirs[key][0] and value[1] != theirs[key][1]:
                    raise SettingsError(
                        f"{where}: data.asset_name: {value[0]!r} is model {other}'s too "
                        f"({_shown(path)}), for another file; name this model's data "
                        "asset after it"
                    )
            elif value is not None and value == theirs.get(key):
                raise SettingsError(
                    f"{where}: {key}: {value[0]!r} is model {other}'s too ({_shown(path)}); "
                    "every model needs its own"
                )


def _claims(fork: Fork, name: str, settings: Settings | None, raw: Mapping | None = None) -> dict:
    """What model ``name`` takes that no other model may: by key, its value."""
    if settings is not None:
        data, offset = settings.data, settings.endpoint.port_offset
        asset = (data.asset_name, str(settings.data_source()))
        names = {
            "endpoint.name": settings.endpoint.name,
            "model.name": settings.model.name,
            "pipeline.experiment_name": settings.pipeline.experiment_name,
        }
    else:
        section = lambda key: raw.get(key) if isinstance(raw.get(key), Mapping) else {}  # noqa: E731
        data, endpoint = section("data"), section("endpoint")
        offset = endpoint.get("port_offset", 0)
        path = data.get("path")
        if isinstance(path, str) and not path.startswith(DATASTORE_PREFIX):
            path = str((fork.models[name].parent / path).resolve())
        asset = (data.get("asset_name"), path)
        names = {
            "endpoint.name": endpoint.get("name", name),
            "model.name": section("model").get("name", name),
            "pipeline.experiment_name": section("pipeline").get("experiment_name", name),
        }
    claims: dict = {key: (value,) for key, value in names.items()}
    # One asset name for two files would mix their versions; for one file it is fine.
    claims["data.asset_name"] = asset if asset[0] is not None else None
    ports = fork.settings
    offset = offset if isinstance(offset, int) else 0
    claims["ports"] = {port + offset for _, port in base_ports(ports.local, ports.environments)}
    return claims


def _shown(path: Path) -> str:
    """``path`` as a message shows it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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


def _describe_model(fork: Path, model: Path, error: ValidationError) -> str:
    """The problems of a model's merged settings, each under the file it is in."""
    by_file: dict[Path, list] = {}
    for item in error.errors():
        top = str(item["loc"][0]) if item["loc"] else ""
        by_file.setdefault(fork if top in (*FORK_KEYS, "env") else model, []).append(item)
    return "; ".join(_describe(path, items) for path, items in by_file.items())


def _describe(path: Path, error: ValidationError | list) -> str:
    problems = []
    for item in error.errors() if isinstance(error, ValidationError) else error:
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
    return f"{_shown(path)}: " + "; ".join(problems)
