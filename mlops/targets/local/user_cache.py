"""The user's cache folder for what ``mlops`` can rebuild at any time and shares
between projects: ``$XDG_CACHE_HOME/mlops/``, by default ``~/.cache/mlops/``.
Everything in it is checked before use, so deleting it only costs time."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlops"
