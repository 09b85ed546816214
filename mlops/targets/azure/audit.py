"""The Azure target's audit trail: an append blob in the workspace's default
datastore, ``mlops/audit/<model folder>/events.jsonl``, beside the runs'
outputs and the monitor reports; each event one ``append_block``, which the
service writes whole or not at all."""

from __future__ import annotations

import contextlib

from mlops.targets.azure import storage
from mlops.targets.base import AuditOperations

AUDIT_PATH = "mlops/audit/{model}/events.jsonl"


class AzureAudit(AuditOperations):
    def __init__(self, target) -> None:
        self._target = target  # an AzureTarget: its signed-in client

    def _blob(self, client):
        container = storage.container(client, self._target._credential)
        return container.get_blob_client(AUDIT_PATH.format(model=self._target.settings.model_id))

    def append(self, line: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        with self._target._calls() as client:
            blob = self._blob(client)
            # Created once: never replaces a trail that exists.
            with contextlib.suppress(ResourceExistsError, ResourceModifiedError):
                blob.create_append_blob(match_condition=MatchConditions.IfMissing)
            blob.append_block((line + "\n").encode())

    def lines(self) -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        with self._target._calls() as client:
            try:
                data = self._blob(client).download_blob().readall()
            except ResourceNotFoundError:
                return []
        return data.decode("utf-8", errors="replace").splitlines()
