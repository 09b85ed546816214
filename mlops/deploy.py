"""Blue/green deployment of a registered model, written once for every target.

1. The new deployment (named by the target: locally ``blue`` or ``green``,
   whichever is not serving; on Azure after the model version)
   starts at 0 % traffic and must become ready.
2. It is smoke-tested directly, bypassing the traffic map: rows of the
   model's own test split must come back as an answer of the model's kind
   for every row (``mlops.kinds``: a binary classifier's, one probability in
   [0, 1] each), and a request missing a column must get a client error.
3. Traffic moves to it in one step; only then is the old deployment removed,
   and the registry records the version as deployed (``DEPLOYED_TAG``, the
   durable record the champion is read from when nothing serves) and moves
   its ``champion`` alias to it (``Target.mark_champion``).

If anything fails before the traffic has moved, the old traffic map is put
back and the new deployment removed (only a deployment this deploy created),
its server log kept in ``log_dir``, so the endpoint serves throughout and the
evidence stays; a first deploy also removes the endpoint it created. Callers
hold ``target.endpoint_lock()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops import audit as audit_tags
from mlops import audit_trail, model_card
from mlops.families import SmokeCases, SmokeTest, operations
from mlops.families.tabular import TableCases, request_body, rows_of, smoke_test
from mlops.kinds import get_kind
from mlops.runs import TEST_DATA_OUTPUT
from mlops.settings import Settings
from mlops.targets.base import (
    ADOPTED_TAG,
    DEPLOYED_TAG,
    DeploymentError,
    ModelVersion,
    Printer,
    Target,
)
from mlops.task import model_kind

if TYPE_CHECKING:
    import pandas as pd  # imported where used: it costs 0.4 s to start

    from mlops.gate import Decision


@dataclass(frozen=True)
class DeployResult:
    deployment: str
    model: str
    scoring_uri: str
    replaced: str | None  # the model that served before, if any
    smoke: SmokeTest | None  # None when the model was already serving
    sample: bytes = b""  # a scoring request of two test rows, for the user to try
    token_resource: str | None = None  # whose Microsoft Entra token a caller sends, if any
    # The gate's decision against the champion of the moment; None when the version
    # already served, or for a rollback, which skips the gate.
    decision: Decision | None = None


def deploy(
    target: Target,
    settings: Settings,
    model: ModelVersion,
    show: Printer,
    log_dir: Path,
    audit: Mapping[str, str] | None = None,
) -> DeployResult:
    """Deploy ``model`` blue/green to ``endpoint.name``; see the module docstring.
    ``audit`` maps tags to the reasons a human gave to deploy it past the gate
    (a rollback, an override, a replaced task), recorded with when and who."""
    endpoint = target.get_endpoint()
    serving = endpoint.serving() if endpoint else None
    if serving is not None and serving.serves(model):
        show(f"{model.ref} is already serving on deployment {serving.name}")
        if model.deployed_at:
            target.mark_champion(model.version)
        else:
            _record(target, settings, model, audit, serving.name, None, show)
        sample = smoke_cases(target, settings, model).sample()
        return DeployResult(
            serving.name,
            model.ref,
            endpoint.scoring_uri,
            None,
            None,
            sample,
            target.token_resource,
        )
    old_traffic = dict(endpoint.traffic) if endpoint else {}
    for leftover in endpoint.deployments if endpoint else ():
        if old_traffic.get(leftover.name, 0) == 0:
            show(f"removing deployment {leftover.name}: it takes no traffic")
            target.delete_deployment(leftover.name)
            old_traffic.pop(leftover.name, None)
    name = target.deployment_name(model, serving)
    cases = smoke_cases(target, settings, model)
    shifting = False
    try:
        target.create_deployment(name, model, show)
        smoke = cases.run(target, name, get_kind(model_kind(model, settings.kind)))
        show(f"deployment {name}: smoke test passed ({smoke.rows} rows, {smoke.seconds:.2f} s)")
        shifting = True
        target.set_traffic({**dict.fromkeys(old_traffic, 0), name: 100})
    except BaseException as error:
        show(f"deployment {name}: failed; the endpoint keeps its traffic {old_traffic or 'none'}")
        # Best effort: the error that stopped the deploy is the one to report.
        if shifting:
            with contextlib.suppress(Exception):
                target.set_traffic(old_traffic)
        kept = None
        with contextlib.suppress(Exception):
            kept = target.delete_deployment(name, keep_log=log_dir / f"deployment-{name}.log")
        if endpoint is None:  # a first deploy: the endpoint it created serves nothing
            with contextlib.suppress(Exception):
                target.delete_endpoint()
        if kept is not None and isinstance(error, DeploymentError):
            raise DeploymentError(f"{error}\nits server log is kept in {kept}") from None
        raise
    show(f"deployment {name}: takes 100 % of traffic")
    _record(target, settings, model, audit, name, serving.model if serving else None, show)
    from mlops.monitoring.schedule import repoint_after_deploy  # pandas: not for every verb

    repoint_after_deploy(target, settings, show)
    for old in old_traffic:
        target.delete_deployment(old)
        show(f"deployment {old}: removed")
    scoring_uri = target.get_endpoint().scoring_uri
    replaced = serving.model if serving else None
    sample = cases.sample()
    return DeployResult(
        name, model.ref, scoring_uri, replaced, smoke, sample, target.token_resource
    )


def _record(
    target: Target,
    settings: Settings,
    model: ModelVersion,
    audit: Mapping[str, str] | None,
    deployment: str,
    replaced: str | None,
    show: Printer,
) -> None:
    """``model`` serves now: its tags, the champion alias and the audit trail say so,
    and its model card is stored again (best effort: the deploy stands without it)."""
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    tags = {DEPLOYED_TAG: now, **audit_tags.record(audit or {}, now)}
    target.set_model_tags(model.version, tags)
    target.mark_champion(model.version)
    action, why = audit_trail.deploy_reason(model, audit or {})
    registry = model.tags.get(ADOPTED_TAG)
    audit_trail.record(
        target, settings, action, model.ref, why,
        deployment=deployment, replaced=replaced, registry=registry,
    )  # fmt: skip
    try:
        model_card.store(target, settings, model)
    except Exception as problem:  # the deploy is done; the card is a copy
        show(f"warning: the model card of {model.ref} was not stored ({problem}); "
             "`mlops card` shows it")  # fmt: skip


def smoke_cases(target: Target, settings: Settings, model: ModelVersion) -> SmokeCases:
    """What a new deployment of ``model`` is smoke-tested with, as its kind's family
    says (``mlops.kinds``): from its own test split, or, for a version trained in
    another environment, what it was promoted with (at most ``endpoint.smoke_rows``)."""
    family = operations(model_kind(model, settings.kind))
    if not model.run_id:
        raise DeploymentError(f"model {model.ref} has no mlops.run_id tag: no test split to use")
    promoted = model.tags.get(ADOPTED_TAG)
    if promoted:
        # Trained in another environment: the rows it was promoted with.
        sample = target.registry_sample(promoted.rpartition(":")[2])
        if sample is None:
            raise DeploymentError(f"{promoted} keeps no smoke-test rows in the registry")
        return family.from_sample(sample, settings.endpoint.smoke_rows)
    run = target.get_run(model.run_id)
    return family.from_split(target.output_path(run, TEST_DATA_OUTPUT), settings)


def smoke_rows(target: Target, settings: Settings, model: ModelVersion) -> pd.DataFrame:
    """The rows a tabular ``model``'s deployment is smoke-tested with (``TableCases``)."""
    return smoke_cases(target, settings, model).rows


__all__ = ["SmokeTest", "TableCases", "request_body", "rows_of", "smoke_test"]
