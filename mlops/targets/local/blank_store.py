"""New MLflow SQLite stores start from a copy of an empty one.

MLflow creates a store's schema by running every one of its migrations, a
few seconds of CPU for each new store (a project's first run, each local
environment, the shared registry). The result is the same empty schema
every time for one MLflow version, so it is made once, in a temporary
folder, and kept under the user's cache folder
(``user_cache``) named after the
MLflow and SQLAlchemy versions; a new store is a copy of it, put in place
in one step so two commands creating the same store at once agree. Where
the cache cannot be written, MLflow creates the store itself, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
from importlib import metadata
from pathlib import Path

from mlops.targets.local.user_cache import cache_folder


def seed(db: Path, artifacts: Path) -> None:
    """Make the missing MLflow store ``db`` a copy of the empty store, its default
    experiment keeping its artifacts in ``artifacts``. A store that exists, or a
    blank that cannot be had, is left to MLflow."""
    if db.exists():
        return
    blank = _blank()
    if blank is None:
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    partial = db.with_name(f".{db.name}.{os.getpid()}.seed")
    try:
        shutil.copyfile(blank, partial)
        with contextlib.closing(sqlite3.connect(partial)) as store, store:
            store.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                ((artifacts / "0").absolute().as_uri(),),
            )
        with contextlib.suppress(FileExistsError):  # another command seeded it first
            os.link(partial, db)
    except (OSError, sqlite3.Error):
        pass  # MLflow creates the store itself
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _blank() -> Path | None:
    """The empty store for the installed MLflow, made if needed; None when it cannot be."""
    try:
        versions = f"{metadata.version('mlflow')}-{metadata.version('sqlalchemy')}"
    except metadata.PackageNotFoundError:
        return None
    blank = cache_folder() / f"mlflow-{versions}-empty.db"
    if blank.is_file():
        return blank
    try:
        blank.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=blank.parent) as scratch:
            made = Path(scratch) / "mlflow.db"
            _create(made)
            os.replace(made, blank)
    except (OSError, ImportError):
        return None
    return blank


def quiet_store_logs() -> None:
    """Creating or migrating an MLflow SQLite schema is logged at INFO on stderr,
    where the CLI keeps one line for errors: keep it off."""
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)


def _create(db: Path) -> None:
    from mlflow.tracking import MlflowClient

    quiet_store_logs()
    uri = f"sqlite:///{db}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
