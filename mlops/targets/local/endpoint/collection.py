"""What the local endpoint does for Azure ML's model data collector.

A deployment whose ``data_collector`` enables collections (its state entry
names them, with a ``collector_port``) has its scoring server configured as
Azure ML configures one: ``AZUREML_MDC_CONFIG_PATH`` names a JSON file of the
collections and their sampling percentages, ``AZUREML_MDC_HOST`` and
``AZUREML_MDC_PORT`` where the collector (``azureml-ai-monitoring``, in
``score.py``) posts each record, ``POST /modeldata/log``. On Azure a sidecar
receives them; here the endpoint's router does, on the deployment's
``collector_port`` (``receiver.py``), and writes each record where and as
Azure writes it in
the workspace's blob store::

    <state>/collected/<endpoint>/<deployment>/<collection>/YYYY/MM/DD/HH/<instance>.jsonl

one JSON line per collected call, in Azure's record schema (``specversion``,
``id``, ``source``, ``type``, ``datacontenttype``, ``time``, ``data``,
``correlationid``, ``xrequestid``, ``modelversion``, ``collectdatatype``,
``agent``, ``contentrange``), the hour being the record's (UTC). A record
that is not one (no collection named, a body that is not JSON) is refused
and never written: the collector logs the refusal, the request it came
from was answered long before.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from mlops.state_files import open_file
from mlops.targets.local.endpoint.ports import HOST
from mlops.targets.local.files import write_private

COLLECTED = "collected"
CONFIG_FILE = "mdc.json"
LOG_PATH = "/modeldata/log"
TYPE_PREFIX = "azureml.inference."
# A collection's name becomes a folder: letters, digits and underscores only.
COLLECTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# A record larger than this is refused (a request of score.py is at most 1 MiB).
MAX_RECORD_BYTES = 8 * 1024 * 1024


class CollectionError(ValueError):
    """A post that is not a record of the collector; the message says why."""


def collected_root(state_dir: Path, endpoint: str) -> Path:
    """Where the records of endpoint ``endpoint``'s deployments are written."""
    return state_dir / COLLECTED / endpoint


def server_environment(folder: Path, item: Mapping) -> dict[str, str]:
    """The variables that configure the collector of the deployment in ``folder``
    (state entry ``item``), its configuration file written there; none when the
    deployment collects nothing."""
    collections = item.get("collections") or {}
    if not collections or not item.get("collector_port"):
        return {}
    config = {
        "collections": {
            name: {"enabled": True, "sampleRatePercentage": round(rate * 100)}
            for name, rate in collections.items()
        },
        "runMode": "cloud",
    }
    path = folder / CONFIG_FILE
    write_private(path, json.dumps(config, indent=2).encode())
    return {
        "AZUREML_MDC_CONFIG_PATH": str(path),
        "AZUREML_MDC_HOST": HOST,
        "AZUREML_MDC_PORT": str(item["collector_port"]),
    }


class Sink:
    """Writes the records of endpoint ``endpoint``'s deployments under ``root``
    (see the module docstring); this process's records go to files of its own."""

    def __init__(self, root: Path, endpoint: str) -> None:
        self.root = root
        self.endpoint = endpoint
        self.instance = uuid.uuid4().hex
        self.written = 0
        self.refused = 0

    def write(self, deployment: str, headers: Mapping[str, str], body: bytes) -> Path:
        """Write the record the collector posted (``headers``, field names in
        lower case, and ``body``) for ``deployment``; return the file. Raises
        ``CollectionError``."""
        try:
            line, collection, when = self.record(deployment, headers, body)
        except CollectionError:
            self.refused += 1
            raise
        folder = self.root / deployment / collection / when.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.instance}.jsonl"
        descriptor = open_file(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        self.written += 1
        return path

    def record(
        self, deployment: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[bytes, str, datetime]:
        """The line Azure ML writes for the post, its collection and its time."""
        kind = headers.get("ce-type", "")
        collection = kind.removeprefix(TYPE_PREFIX)
        if not kind.startswith(TYPE_PREFIX) or not COLLECTION_NAME.match(collection):
            raise CollectionError(f"ce-type {kind[:80]!r} names no collection")
        try:
            data = json.loads(body)
        except ValueError:
            raise CollectionError(f"the {collection} record is not JSON") from None
        try:
            when = datetime.fromtimestamp(int(headers.get("ce-time", "")), UTC)
        except (ValueError, OverflowError, OSError):
            when = datetime.now(UTC)
        correlation = headers.get("ce-x-request-id")
        record = {
            "specversion": "1.0",
            "id": headers.get("trace-id") or str(uuid.uuid4()),
            "source": f"/local/onlineEndpoints/{self.endpoint}/deployments/{deployment}",
            "type": kind,
            "datacontenttype": headers.get("content-type", "application/json"),
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
            "correlationid": correlation,
            "xrequestid": correlation,
            "modelversion": headers.get("ce-model-version"),
            "collectdatatype": headers.get("ce-collect-data-type"),
            "agent": headers.get("ce-agent"),
            "contentrange": f"bytes 0-{max(len(body) - 1, 0)}/{len(body)}",
        }
        try:
            line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        except ValueError:  # NaN or infinity in the data: not JSON as Azure writes it
            raise CollectionError(f"the {collection} record holds NaN or infinity") from None
        return line.encode(), collection, when
