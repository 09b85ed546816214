"""The Azure endpoint lock: a blob lease that Azure Storage itself holds.

Two CI jobs on two machines deploying to one endpoint must not interleave; a
file lock cannot see across machines, a lease on a blob in the workspace's
default storage can. The lease lasts ``LEASE_SECONDS`` and is renewed while
held, so a holder that dies (a killed runner) frees it within that time; it
is released on the way out in every case. The blob's metadata names the
holder, so a waiting command can say who it waits for.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from mlops.targets.base import DeploymentError, Printer

LOCK_BLOB = "mlops/locks/endpoint-{name}"
LEASE_SECONDS = 60  # Azure's longest finite lease
RENEW_SECONDS = 20
RETRY_SECONDS = 5.0
HOLDER_KEY = "holder"


def holder_description(environ=os.environ) -> str:
    """Who takes the lock, as a reader of the message would look for it."""
    if environ.get("GITHUB_RUN_ID") and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        return (
            f"workflow run {server}/{environ['GITHUB_REPOSITORY']}/actions/runs/"
            f"{environ['GITHUB_RUN_ID']}"
        )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


@contextlib.contextmanager
def endpoint_lease(
    container, endpoint: str, wait_seconds: float, show: Printer, holder: str | None = None
) -> Iterator[None]:
    """Hold the lease of ``endpoint`` (in ``container``) for the block. Waits up to
    ``wait_seconds`` while someone else holds it, then raises ``DeploymentError``
    naming the holder."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError

    blob = container.get_blob_client(LOCK_BLOB.format(name=endpoint))
    with contextlib.suppress(ResourceExistsError, HttpResponseError):
        blob.upload_blob(b"", overwrite=False)  # exists (and may be leased) after the first deploy
    deadline = time.monotonic() + wait_seconds
    waiting = False
    while True:
        try:
            lease = blob.acquire_lease(lease_duration=LEASE_SECONDS)
            break
        except HttpResponseError as error:
            if error.status_code != 409:
                raise
        other = _holder(blob)
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeploymentError(
                f"endpoint {endpoint} is being changed by {other} (a lease on blob "
                f"{blob.blob_name} in container {blob.container_name}); waited "
                f"{wait_seconds:g} s (endpoint.lock_wait_seconds): run the command again when "
                "it has finished"
            )
        if not waiting:
            show(f"waiting for {other} to finish changing endpoint {endpoint}")
            waiting = True
        time.sleep(min(RETRY_SECONDS, left))
    since = datetime.now(UTC).isoformat(timespec="seconds")
    metadata = {HOLDER_KEY: _ascii(holder or holder_description()), "since": since}
    stop, lost = threading.Event(), threading.Event()
    renewer = threading.Thread(target=_renew, args=(lease, stop, lost), daemon=True)
    try:
        blob.set_blob_metadata(metadata, lease=lease)
        renewer.start()
        yield
    finally:
        stop.set()
        if renewer.is_alive():
            renewer.join()
        with contextlib.suppress(Exception):
            lease.release()
        if lost.is_set():
            show(
                f"warning: the lease on endpoint {endpoint} could not be renewed and may have "
                "lapsed during this command; check `mlops endpoint show`"
            )


def _holder(blob) -> str:
    try:
        metadata = blob.get_blob_properties().metadata or {}
    except Exception:  # a name for the message only
        metadata = {}
    who = metadata.get(HOLDER_KEY)
    return f"{who} since {metadata.get('since', '?')}" if who else "another deploy"


def _renew(lease, stop: threading.Event, lost: threading.Event) -> None:
    failures = 0
    while not stop.wait(RENEW_SECONDS):
        try:
            lease.renew()
            failures = 0
        except Exception:  # retried at the next tick, inside the lease's 60 s
            failures += 1
            if failures * RENEW_SECONDS >= LEASE_SECONDS:
                lost.set()


def _ascii(text: str) -> str:
    # Blob metadata values travel as HTTP headers: ASCII only.
    return text.encode("ascii", "replace").decode()
