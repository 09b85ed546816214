"""Owner-only folders and atomic, owner-only files under the local state folder.

Some state files hold what later processes trust: ports and paths the
endpoint's router forwards to, commands the pipeline runner executes. They
are created readable and writable by their owner only, whatever the umask,
and replaced in one rename after their bytes reached the disk (and the
rename itself once it returns), so a reader never sees half a file and a
crash leaves the old or the new one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed; make it owner-only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    os.chmod(path, PRIVATE_FOLDER)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, as an owner-only file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), PRIVATE_FILE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _sync_folder(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _sync_folder(folder: Path) -> None:
    # Until the folder's entry is on disk, a crash may bring back the old file.
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on a folder
            os.fsync(fd)
    finally:
        os.close(fd)
