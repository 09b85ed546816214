"""Files ``mlops`` writes under the state folder, never through a link.

A symbolic link where one of the state folder's files should be would send
a write elsewhere: ``mlops deploy`` overwriting, through a planted
``requests/<endpoint>.json``, a file outside the folder. So every such file is
opened with ``O_NOFOLLOW``, and a replacement (a new file renamed over the
old one) checks its destination as well as its temporary file. A link
found there is refused with ``StateFileError`` naming it; what it points
to is left as it was. Only the last part of a path is checked: a state
folder that is itself a link (to another disk) is the user's choice.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from mlops.errors import UserError

# What a file is created with before the umask (as open() does).
DEFAULT_MODE = 0o666


class StateFileError(UserError):
    """A symbolic link stands where ``mlops`` keeps a file of its own."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path}: a symbolic link where mlops keeps a file of its own; remove the "
            "link (mlops never writes through one)"
        )


def refuse_link(path: Path) -> None:
    """Raise ``StateFileError`` when ``path`` is a symbolic link."""
    if path.is_symlink():
        raise StateFileError(path)


def open_file(path: Path, flags: int, mode: int = DEFAULT_MODE) -> int:
    """``os.open(path, flags, mode)`` that never follows a link at ``path``:
    raises ``StateFileError`` when there is one."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as error:
        # Linux says ELOOP; FreeBSD says EMLINK.
        if error.errno in (errno.ELOOP, errno.EMLINK) and path.is_symlink():
            raise StateFileError(path) from None
        raise


def write_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one rename, after the bytes reached the
    disk (and the rename itself once this returns), so a reader never sees half
    a file and a crash leaves the old or the new one. ``mode`` is the file's
    exact permissions, whatever the umask (None: the umask's default). Raises
    ``StateFileError`` for a link at ``path`` or at the temporary file beside it."""
    refuse_link(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    created = False
    try:
        fd = open_file(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, DEFAULT_MODE if mode is None else mode
        )
        created = True
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)  # a link made meanwhile is replaced, not followed
        _sync_folder(path.parent)
    finally:
        if created:
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
