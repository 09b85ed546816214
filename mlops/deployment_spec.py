"""The online deployment YAML (``endpoint.deployment``), read with azure-ai-ml's loader.

``load_deployment_spec(path)`` returns the parts a target needs to run a
deployment, or raises ``DeploymentSpecError`` naming the file and the key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlops.errors import UserError


class DeploymentSpecError(UserError):
    """The deployment YAML is missing or invalid."""


@dataclass(frozen=True)
class DeploymentSpec:
    path: Path
    code: Path  # the folder uploaded as the deployment's code
    scoring_script: str  # relative to ``code``
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    request_timeout_ms: int = 5000
    # Readiness probe: how long a new deployment may take to answer.
    readiness_initial_delay: int = 10
    readiness_period: int = 10
    readiness_failure_threshold: int = 30
    # The data collector's collections that are enabled (``data_collector``):
    # name -> the share of requests collected (0 to 1). Empty: nothing is collected.
    collections: Mapping[str, float] = field(default_factory=dict)

    @property
    def readiness_seconds(self) -> int:
        return (
            self.readiness_initial_delay + self.readiness_period * self.readiness_failure_threshold
        )

    @property
    def script(self) -> Path:
        return self.code / self.scoring_script

    def sampled(self, rate: float) -> DeploymentSpec:
        """This spec with each of its collections sampled at ``rate`` (0 to 1): the
        model's ``monitor.sampling_rate``, which the deployment file leaves to it."""
        return replace(self, collections=dict.fromkeys(self.collections, rate))


def load_deployment_spec(path: Path) -> DeploymentSpec:
    """Read and check the deployment YAML at ``path``."""
    if not path.is_file():
        raise DeploymentSpecError(f"{path}: deployment file not found (see endpoint.deployment)")
    # azure-ai-ml logs "experimental class" notices at WARNING on every load.
    logging.getLogger("azure.ai.ml").setLevel(logging.ERROR)
    # The data collector's classes log theirs through this one, quieted by name as
    # in pipeline_graph.py.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    from azure.ai.ml import load_online_deployment

    try:
        deployment = load_online_deployment(path)
    except Exception as error:  # the loader raises many types, all about the file
        raise DeploymentSpecError(f"{path}: {error}") from None
    config = deployment.code_configuration
    if config is None or not config.code or not config.scoring_script:
        raise DeploymentSpecError(
            f"{path}: code_configuration.code and code_configuration.scoring_script are required"
        )
    code = (path.parent / str(config.code)).resolve()
    if not (code / config.scoring_script).is_file():
        raise DeploymentSpecError(
            f"{path}: code_configuration.scoring_script: {code / config.scoring_script} "
            "does not exist"
        )
    request, probe = deployment.request_settings, deployment.readiness_probe
    variables = {str(k): str(v) for k, v in (deployment.environment_variables or {}).items()}
    workers = variables.get("WORKER_COUNT")
    if workers is not None and not (workers.isdigit() and int(workers) > 0):
        raise DeploymentSpecError(
            f"{path}: environment_variables.WORKER_COUNT: {workers[:20]!r} is not a "
            "positive whole number (the scoring server's worker processes)"
        )
    return DeploymentSpec(
        collections=_collections(deployment.data_collector),
        path=path,
        code=code,
        scoring_script=config.scoring_script,
        environment_variables=variables,
        request_timeout_ms=(request and request.request_timeout_ms) or 5000,
        readiness_initial_delay=(probe and probe.initial_delay) or 10,
        readiness_period=(probe and probe.period) or 10,
        readiness_failure_threshold=(probe and probe.failure_threshold) or 30,
    )


def _collections(collector) -> dict[str, float]:
    # The loader has checked the block: ``enabled`` is "true" or "false", and a
    # sampling_rate given for the block is on each collection (1.0 when none is).
    if collector is None:
        return {}
    return {
        str(name): 1.0 if collection.sampling_rate is None else float(collection.sampling_rate)
        for name, collection in (collector.collections or {}).items()
        if str(collection.enabled).lower() == "true"
    }
