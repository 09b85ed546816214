"""Owner-only folders and atomic, owner-only files under the local state folder.

Some state files hold what later processes trust: ports and paths the
endpoint's router forwards to, commands the pipeline runner executes. They
are created readable and writable by their owner only, whatever the umask,
and replaced in one rename after their bytes reached the disk (and the
rename itself once it returns), so a reader never sees half a file and a
crash leaves the old or the new one; never written through a symbolic link.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlops.state_files import write_file

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed; make it owner-only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    os.chmod(path, PRIVATE_FOLDER)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, as an owner-only file, never
    through a link (see mlops.state_files: a link there raises ``StateFileError``)."""
    write_file(path, data, mode=PRIVATE_FILE)
