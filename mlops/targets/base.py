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
  MLflow model; its output ``test_data`` holds the held-out split.
- ``register_model`` registers a run's ``model`` output as a new version of
  ``model.name`` with the given tags, once per run: registering the same run
  again returns the existing version.
- The endpoint verbs are the steps of a blue/green deploy, which
  ``mlops.deploy`` composes: ``create_deployment`` starts a deployment at 0 %
  traffic and returns once it is ready (or raises ``DeploymentError``; the
  caller then removes it with ``delete_deployment``, keeping its log);
  ``invoke`` scores through the endpoint, or straight against one
  deployment; ``set_traffic`` returns once the new map is in force and no
  request is still on its way to a deployment it took traffic from.
- Commands that change the endpoint hold ``endpoint_lock`` (a second one
  waits, bounded, naming the holder) and first call ``resume_endpoint``,
  which starts again what stopped and removes a deployment an interrupted
  deploy left without traffic.
- The registry records, as tags, each version's content digest
  (``DIGEST_TAG``) and when it last took all traffic (``DEPLOYED_TAG``): the
  champion is found from them when nothing serves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import UserError
from mlops.settings import Settings

if TYPE_CHECKING:
    from mlops.monitoring.baseline import Baseline
    from mlops.pipeline_graph import PipelineGraph

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
    classes: tuple[str, ...] = ()  # the target column's two values, as text
    # ``data_checks.checked_with`` of the settings the bytes were checked under.
    checked_with: str = ""

    @property
    def ref(self) -> str:
        """``name:version``, as runs and lineage tags name it."""
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class StepRun:
    name: str
    status: str  # "Completed", "Failed", "Canceled" or "NotStarted"
    seconds: float = 0.0
    exit_code: int | None = None
    log: str | None = None
    # The run whose outputs this step reused instead of running (see ``run_pipeline``).
    reused_from: str | None = None


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


class RunNotFound(UserError, LookupError):
    """No run with that id on this target."""


# Tags every model version carries (lineage.model_tags writes them at registration;
# a deploy adds DEPLOYED_TAG, and ROLLBACK_TAG when it returns to an older version).
RUN_TAG = "mlops.run_id"
DIGEST_TAG = "mlops.model_sha256"
GATE_TAG = "mlops.gate"
DEPLOYED_TAG = "mlops.deployed_at"
ROLLBACK_TAG = "mlops.rollback_reason"
# A version taken from the registry into an environment names it (``registry:NAME:VERSION``).
ADOPTED_TAG = "mlops.registry_model"
# The registered-model alias of the version serving on the endpoint (``mark_champion``).
CHAMPION_ALIAS = "champion"
REGISTRY_PREFIX = "registry:"


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version and its lineage tags."""

    name: str
    version: str
    source: str  # where the registry keeps the model's files
    tags: Mapping[str, str]
    created: str  # ISO 8601, UTC
    new: bool = False  # True when this call registered it

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def run_id(self) -> str | None:
        return self.tags.get(RUN_TAG)

    @property
    def digest(self) -> str | None:
        """SHA-256 of the model's files (``lineage.model_digest``), the model's identity."""
        return self.tags.get(DIGEST_TAG)

    @property
    def deployed_at(self) -> str | None:
        """When this version last took all of the endpoint's traffic (ISO 8601), if ever."""
        return self.tags.get(DEPLOYED_TAG)


class ModelNotFound(UserError, LookupError):
    """No such model version in the registry."""


def newest(versions: list[ModelVersion], missing: str) -> ModelVersion:
    """What ``latest`` names: the first of ``versions`` (newest first); raises
    ``ModelNotFound`` with ``missing`` when there is none."""
    if not versions:
        raise ModelNotFound(missing)
    return versions[0]


@dataclass(frozen=True)
class Deployment:
    name: str  # "blue"/"green" locally; on Azure, named after the model version
    model: str  # "name:version"
    scoring_uri: str  # where the deployment itself answers (bypassing the traffic map)
    state: str  # "Succeeded" when ready, otherwise what went wrong
    model_digest: str | None = None  # SHA-256 of the model files it serves

    def serves(self, model: ModelVersion) -> bool:
        """Whether this deployment serves ``model``: the same reference and, where both
        are known, the same files (a registry reset may reuse a version number)."""
        same_files = None in (self.model_digest, model.digest) or (
            self.model_digest == model.digest
        )
        return self.model == model.ref and same_files


@dataclass(frozen=True)
class Endpoint:
    name: str
    scoring_uri: str
    traffic: Mapping[str, int]  # deployment name -> percent
    deployments: tuple[Deployment, ...] = ()

    def serving(self) -> Deployment | None:
        """The deployment taking the most traffic (the champion's), if any takes some."""
        live = [d for d in self.deployments if self.traffic.get(d.name, 0) > 0]
        return max(live, key=lambda d: self.traffic[d.name], default=None)

    def deployment(self, name: str) -> Deployment | None:
        return next((d for d in self.deployments if d.name == name), None)


class DeploymentError(UserError):
    """A deployment could not be created or did not pass its checks."""


DEPLOYMENT_NAMES = ("blue", "green")


@dataclass(frozen=True)
class ScheduledRun:
    """A run the target's own monitor schedule started: its job, status (the
    target's word: Completed, Failed, Running, ...), when it was created, and
    where to see its signals."""

    schedule: str
    name: str
    status: str
    created: datetime
    url: str | None = None


class MonitoringOperations(ABC):
    """A target's monitoring of the endpoint's deployments, as ``MLClient`` groups
    operations: what Azure ML's data collector kept, and where a monitor report goes."""

    # Whether a collected record is readable as soon as the request is answered.
    collects_at_once: bool = False
    # Whether the target runs a monitor of its own on a schedule (Azure ML's).
    schedules: bool = False

    @abstractmethod
    def collected_folder(self, deployment: str, since: datetime, until: datetime) -> Path:
        """A local folder holding what deployment ``deployment`` of the endpoint
        collected in [since, until) (at least: the hour folders that window meets),
        one folder per collection, as Azure ML's data collector writes them
        (``mlops.monitoring.collected``)."""

    @abstractmethod
    def log_report(
        self, run_name: str, metrics: Mapping[str, float], tags: Mapping[str, str], folder: Path
    ) -> str | None:
        """Record a monitor report ``run_name`` (its metrics, tags, and the files of
        ``folder``) where the target keeps run records; the MLflow run id, when it
        is an MLflow run."""

    def point_schedule(
        self,
        deployment: str,
        model: ModelVersion,
        baseline: Baseline,
        prediction_type: str,
        show: Printer,
    ) -> str:
        """Create or update the target's monitor schedule on ``deployment`` (serving
        ``model``, judged against ``baseline``, ``mlops.monitoring.baseline``;
        ``prediction_type`` its answer's kind); its name. Only where ``schedules``."""
        raise NotImplementedError

    def latest_scheduled_run(self) -> ScheduledRun | None:
        """The newest run the target's own monitor schedule of the endpoint started;
        None where there is none (or no such schedule: where not ``schedules``)."""
        return None


class AuditOperations(ABC):
    """Where a target keeps its audit trail (``mlops.audit_trail``): one JSON line
    per change to what serves, appended and never rewritten, kept apart from the
    endpoint's own state so that losing that loses none of it."""

    @abstractmethod
    def append(self, line: str) -> None:
        """Add ``line`` (one JSON object, no line break) at the end of the trail,
        durably before returning."""

    @abstractmethod
    def lines(self) -> list[str]:
        """The trail's lines, oldest first; empty when nothing was recorded yet."""


class Target(ABC):
    """Where the lifecycle runs. Implementations take the settings and nothing else."""

    name: str
    monitoring: MonitoringOperations
    # The resource whose Microsoft Entra token a caller of the endpoint sends
    # (None: the endpoint takes requests without one).
    token_resource: str | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def preflight(self, deploying: bool) -> None:
        """Raise a ``UserError`` naming the setting at fault when this target could not
        do the work the settings ask for (with ``deploying``: including a deploy)."""

    @abstractmethod
    def register_data(self, source: Path | str) -> DataAsset:
        """Validate ``source`` (a local file, or a datastore URI where the target
        reads one) against the data settings and register it as a version of
        ``data.asset_name``. Raises ``mlops.data_checks.DataError`` when invalid."""

    @abstractmethod
    def find_data(self, version: str | None = None) -> DataAsset | None:
        """Version ``version`` of ``data.asset_name`` (the most recently
        registered one when None), or None when there is no such version."""

    @abstractmethod
    def pipeline_graph(self) -> PipelineGraph:
        """``pipeline.file`` as loaded and validated, the graph ``run_pipeline`` runs.
        Raises ``PipelineError`` naming the file and the job or input at fault."""

    @abstractmethod
    def run_pipeline(
        self,
        asset: DataAsset,
        inputs: Mapping[str, object],
        show: Printer,
        force_rerun: bool = False,
    ) -> PipelineRun:
        """Run ``pipeline.file`` on ``asset`` (bound to the pipeline input ``raw_data``)
        with the other pipeline ``inputs`` overridden (a ``Path`` is a local file for
        a ``uri_file`` input); return the finished run. As on Azure ML, a step that
        an earlier run completed with the same component, code, environment and
        inputs is reused (its ``StepRun.reused_from`` names that run) unless its
        component is not deterministic, the pipeline's ``settings.force_rerun`` is
        true, or ``force_rerun`` is passed."""

    @abstractmethod
    def list_runs(self) -> list[PipelineRun]:
        """Every pipeline run of this target, newest first."""

    @abstractmethod
    def get_run(self, run_id: str) -> PipelineRun:
        """The run ``run_id``; raises ``RunNotFound``."""

    @abstractmethod
    def output_path(self, run: PipelineRun, name: str) -> Path:
        """A local folder or file holding the pipeline output ``name`` of ``run``."""

    @abstractmethod
    def log_files(self, run: PipelineRun, folder: Path, artifact_path: str) -> None:
        """Attach the files in ``folder`` to ``run``'s tracking record under ``artifact_path``."""

    # Model registry

    @abstractmethod
    def register_model(self, run: PipelineRun, tags: Mapping[str, str]) -> ModelVersion:
        """Register the ``model`` output of ``run`` as a new version of
        ``model.name`` with ``tags``; the existing version if ``run`` has one."""

    @abstractmethod
    def get_model(self, version: str) -> ModelVersion:
        """Version ``version`` of ``model.name``; raises ``ModelNotFound``."""

    @abstractmethod
    def list_models(self) -> list[ModelVersion]:
        """Every version of ``model.name``, newest first."""

    @abstractmethod
    def find_model(self, run_id: str) -> ModelVersion | None:
        """The version registered from pipeline run ``run_id``, if any."""

    @abstractmethod
    def set_model_tags(self, version: str, tags: Mapping[str, str]) -> None:
        """Set (add or overwrite) ``tags`` on version ``version`` of ``model.name``."""

    @abstractmethod
    def mark_champion(self, version: str) -> None:
        """Point the registry's ``champion`` alias of ``model.name`` at ``version``, the
        version that now takes all of the endpoint's traffic (MLflow's name for the
        model in production: ``models:/<name>@champion``)."""

    # The registry shared by the environments (promoted models)

    @abstractmethod
    def workspace(self) -> str:
        """The environment's workspace, as a promoted version records where it came from."""

    @abstractmethod
    def promote_model(
        self,
        model: ModelVersion,
        tags: Mapping[str, str],
        sample: bytes,
        promoted_with: Path | None = None,
    ) -> ModelVersion:
        """Copy the files of ``model`` (a version of this environment) into the registry
        as a version of ``model.name`` with ``tags``, keeping ``sample`` (a scoring
        request of its test rows) and the files of folder ``promoted_with`` (its
        monitor baseline, ``mlops.monitoring.baseline``, and its model card,
        ``mlops.model_card``) beside it; the same files again return the version they
        became the first time."""

    @abstractmethod
    def get_registry_model(self, version: str) -> ModelVersion:
        """Version ``version`` of ``model.name`` in the registry; raises ``ModelNotFound``."""

    @abstractmethod
    def registry_sample(self, version: str) -> bytes | None:
        """The scoring request kept with registry version ``version``, if any."""

    @abstractmethod
    def registry_promoted_with(self, version: str) -> Path | None:
        """A local folder holding the files promoted with registry version ``version``
        (its monitor baseline and model card); None when it was promoted without them."""

    @abstractmethod
    def adopt_model(self, promoted: ModelVersion) -> ModelVersion:
        """This environment's own version serving the files of registry version
        ``promoted``, tagged ``ADOPTED_TAG`` and with its lineage: created once, then
        found again. The environment's champion and deploy records are kept on it."""

    # Online endpoint (``endpoint.name``)

    @abstractmethod
    def get_endpoint(self) -> Endpoint | None:
        """The endpoint and its deployments, or None when it does not exist."""

    @abstractmethod
    def endpoint_lock(self, show: Printer) -> AbstractContextManager[None]:
        """Held for the whole of a deploy so that two never interleave. Waits (a bounded
        time, saying who holds it) while another command holds it; then raises
        ``DeploymentError`` naming the holder."""

    @abstractmethod
    def resume_endpoint(self, show: Printer) -> None:
        """Called with the lock held, before any change: bring the endpoint back to a
        known state. Whatever of it has stopped is started as it was deployed (a local
        endpoint does not outlive a reboot), and what an interrupted deploy left
        behind is removed, saying so: a deployment that never took traffic, and the
        endpoint itself when no deployment is left."""

    def deployment_name(self, model: ModelVersion, serving: Deployment | None) -> str:
        """The name of the deployment a deploy of ``model`` creates, never that of
        ``serving``: ``blue`` or ``green`` unless the target names them otherwise."""
        return next(n for n in DEPLOYMENT_NAMES if serving is None or n != serving.name)

    @abstractmethod
    def create_deployment(self, name: str, model: ModelVersion, show: Printer) -> Deployment:
        """Create the endpoint if needed, then deployment ``name`` serving ``model``
        at 0 % traffic; return once it is ready. Raises ``DeploymentError``; the
        caller then removes the deployment with ``delete_deployment``."""

    @abstractmethod
    def invoke(self, body: bytes, deployment: str | None = None) -> tuple[int, bytes]:
        """POST ``body`` to the endpoint's scoring URI (or straight to ``deployment``);
        return the HTTP status and the response body."""

    @abstractmethod
    def set_traffic(self, traffic: Mapping[str, int]) -> None:
        """Make ``traffic`` (deployment name -> percent, summing to 100 or 0) the
        endpoint's traffic map."""

    @abstractmethod
    def delete_deployment(self, name: str, keep_log: Path | None = None) -> Path | None:
        """Stop and remove deployment ``name`` (which must take no traffic). With
        ``keep_log``, its server log is kept at that path, which is returned (None
        when there was no such deployment or no log)."""

    @abstractmethod
    def delete_endpoint(self) -> None:
        """Stop and remove the endpoint and all its deployments."""

    # monitoring: ``self.monitoring`` (``MonitoringOperations``), and the audit trail:
    # ``self.audit`` (``AuditOperations``), set by each target
