"""Where the local state lives, so that a state folder can move.

The records ``mlops`` writes under the state folder name their files
relative to it, but MLflow's SQLite stores keep absolute ones: an
experiment's artifact location, each run's artifact URI and each model
version's source. ``location.json`` in the state folder records the absolute
path the stores were written at. When a command finds the folder somewhere
else (a renamed or copied checkout, a state folder restored from a backup),
``settle`` rewrites those paths in every store under it to the new place
before anything reads them, and records the new place.

Only paths that start with the recorded folder are rewritten, so the update
is idempotent and two commands settling the same move at once agree. It
uses the standard library's SQLite module: no MLflow import on the way.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlops.targets.local.files import write_private
from mlops.targets.local.tracking import ARTIFACTS, DB_FILE

LOCATION_FILE = "location.json"
# The columns of MLflow's schema that hold absolute paths or file: URIs.
PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


def settle(base: Path) -> Path | None:
    """Make the stores under ``base`` (the state folder) name files where ``base`` is
    now; return the folder they named before when they were moved, else None.
    A missing ``base`` is left alone; a first look records where it is."""
    if not base.is_dir():
        return None
    here = base.resolve()
    recorded = _recorded(base)
    if recorded == here:
        return None
    before = recorded or _inferred(base)
    if before is not None and before != here:
        for store in stores(base):
            rebase(store, before, here)
    write_private(base / LOCATION_FILE, json.dumps({"path": str(here)}).encode())
    return before if before != here else None


def stores(base: Path) -> list[Path]:
    """The MLflow SQLite stores in the state folder ``base``: each model's, in no
    environment and in each, and the shared registry's."""
    candidates = [
        base / "registry" / DB_FILE,
        *base.glob(f"models/*/{DB_FILE}"),
        *base.glob(f"envs/*/models/*/{DB_FILE}"),
    ]
    return [path for path in candidates if path.is_file()]


def rebase(store: Path, old: Path, new: Path) -> None:
    """Rewrite, in the SQLite store ``store``, every path or file: URI under ``old``
    to the same place under ``new``."""
    prefixes = [(old.as_uri(), new.as_uri()), (str(old), str(new))]
    with sqlite3.connect(store, timeout=30) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table, column in PATH_COLUMNS:
            if table not in tables:
                continue
            for before, after in prefixes:
                # Only whole path components: "/a/.mlops" must not match "/a/.mlops-old".
                db.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                    f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                    (after, len(before) + 1, before, len(before) + 1, before + "/"),
                )


def _inferred(base: Path) -> Path | None:
    """Where a state folder written before ``LOCATION_FILE`` existed was: read from
    the artifact location its stores gave their experiments
    (``<state>/models/<model>/mlartifacts``, or the same under ``envs/<env>``)."""
    for store in stores(base):
        depth = len(store.parent.relative_to(base).parts)
        try:
            with sqlite3.connect(f"{store.absolute().as_uri()}?mode=ro", uri=True) as db:
                rows = db.execute("SELECT artifact_location FROM experiments").fetchall()
        except sqlite3.Error:
            continue
        for (location,) in rows:
            path = Path(unquote(urlparse(location).path) if "://" in location else location)
            if path.name == ARTIFACTS:
                return path.parents[depth]
    return None


def _recorded(base: Path) -> Path | None:
    try:
        return Path(json.loads((base / LOCATION_FILE).read_text())["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
