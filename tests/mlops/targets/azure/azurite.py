"""Azurite, the Azure Storage emulator, for the Azure target's tests: its blob
service on a free port of 127.0.0.1, keeping its data in a folder of the test's.

`make test` installs it under .tools (the Makefile's AZURITE). A conftest.py takes the
fixture with ``from tests.mlops.targets.azure.azurite import azurite  # noqa: F401``;
it is session-scoped, so each xdist worker runs one Azurite of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import (
    AccountSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ResourceTypes,
    generate_account_sas,
)

REPO = Path(__file__).resolve().parents[4]
EXECUTABLE = REPO / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
HOST = "127.0.0.1"
ACCOUNT = "devstoreaccount1"
# Azurite's development account and its published key: the same on every machine.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# Node starts in a second or two, but many more beside three busy test workers; the
# wait ends as soon as Azurite answers or exits, so a long bound costs nothing.
START_SECONDS = 120
# A free port can be taken by another worker before Azurite binds it; Azurite then
# exits (EADDRINUSE) and a new port is tried.
ATTEMPTS = 3


@dataclass
class Azurite:
    """A running Azurite blob service, reached with the development account's key
    (``service()``) or an account SAS (``account_sas()``)."""

    port: int
    process: subprocess.Popen
    account: str = ACCOUNT
    key: str = KEY

    @property
    def blob_url(self) -> str:
        """The account's blob endpoint: ``http://127.0.0.1:<port>/devstoreaccount1``."""
        return f"http://{HOST}:{self.port}/{self.account}"

    @property
    def url_format(self) -> str:
        """A stand-in for azure-ai-ml's ``STORAGE_ACCOUNT_URLS["AzureBlob"]``
        (``"https://{}.blob.{}"``). The SDK formats it with (account name, storage
        endpoint suffix); ``str.format`` ignores the extra suffix, so any account
        name lands on this Azurite."""
        return f"http://{HOST}:{self.port}/{{}}"

    def service(self) -> BlobServiceClient:
        """A client of the account, signed with its key."""
        return BlobServiceClient(
            self.blob_url, credential={"account_name": self.account, "account_key": self.key}
        )

    def create_container(self, name: str) -> ContainerClient:
        """Container ``name``, created unless it exists already."""
        container = self.service().get_container_client(name)
        with contextlib.suppress(ResourceExistsError):
            container.create_container()
        return container

    def account_sas(self, hours: float = 1) -> str:
        """An account SAS token (no leading ``?``), valid for ``hours``, that may read,
        write, delete, list, add, create, update and process the blob service, its
        containers and their blobs."""
        return generate_account_sas(
            self.account,
            self.key,
            resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(
                read=True,
                write=True,
                delete=True,
                list=True,
                add=True,
                create=True,
                update=True,
                process=True,
            ),
            expiry=datetime.now(UTC) + timedelta(hours=hours),
        )

    def stop(self) -> None:
        """Kill Azurite's process group and reap it; stopping twice is harmless."""
        # SIGKILL: the data is thrown away, and Azurite's graceful close can wait
        # on open connections.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_azurite(folder: Path) -> Azurite:
    """Start Azurite's blob service on a free port of 127.0.0.1, with its data and its
    log (``azurite.log``) in ``folder``; return it once it answers HTTP on its port.

    Raises ``FileNotFoundError`` if Azurite is not installed, ``RuntimeError`` if it
    does not listen within ``START_SECONDS``."""
    if not os.access(EXECUTABLE, os.X_OK):
        raise FileNotFoundError(
            f"Azurite is not installed at {EXECUTABLE}: run `make test` (or `make azurite`), "
            "which installs it with npm"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(ATTEMPTS):
        azurite = _launch(folder, _free_port())
        if _listening(azurite):
            return azurite
        if azurite.process.poll() is None:
            azurite.stop()
            raise RuntimeError(
                f"Azurite did not listen on port {azurite.port} within {START_SECONDS} s:\n"
                + _log_tail(folder)
            )
    raise RuntimeError(f"Azurite exited at start {ATTEMPTS} times:\n" + _log_tail(folder))


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[Azurite]:
    """A running Azurite for the session (one per xdist worker), stopped at its end."""
    emulator = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield emulator
    emulator.stop()


def _launch(folder: Path, port: int) -> Azurite:
    with open(folder / "azurite.log", "ab") as log:
        process = subprocess.Popen(
            [
                str(EXECUTABLE),
                "--blobHost", HOST,
                "--blobPort", str(port),
                "--location", str(folder),
                # The SDK may speak a newer API version than this Azurite knows.
                "--skipApiVersionCheck",
                "--disableTelemetry",
                # Ignore the headers and parameters Azurite does not support rather than fail.
                "--loose",
                "--silent",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so stop() reaches whatever node starts.
            start_new_session=True,
        )  # fmt: skip
    return Azurite(port, process)


def _listening(azurite: Azurite) -> bool:
    """Whether ``azurite`` answers within ``START_SECONDS``; False as soon as it exits."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if azurite.process.poll() is not None:
            return False
        # An Azurite answering, not just an open port: whoever took the port first
        # accepts connections while this Azurite fails to bind it.
        if _azurite_answers(azurite.port):
            return azurite.process.poll() is None
        time.sleep(0.05)
    return False


def _azurite_answers(port: int) -> bool:
    # http.client rather than urllib: no proxy settings apply to 127.0.0.1.
    connection = http.client.HTTPConnection(HOST, port, timeout=0.5)
    try:
        connection.request("GET", "/")
        server = connection.getresponse().getheader("Server", "")
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return server.startswith("Azurite")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _log_tail(folder: Path, lines: int = 20) -> str:
    log = folder / "azurite.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""
