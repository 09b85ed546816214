"""Content-addressed data assets on disk, for the local target.

Layout: ``<state>/data/<name>/<version>/<file>`` plus ``asset.json`` beside
it. The version is the first 12 hex digits of the file's SHA-256. A version
folder appears in one rename, after the copy was hashed and validated, so a
failed registration leaves nothing behind and a concurrent reader never sees
half a version. The staging folder's name holds the registering process's
id (``.staging-<pid>-...``), so a registration killed outright leaves a
folder the next one recognises as stale and removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from mlops.data_checks import DataError, checked_with, data_path, require_file
from mlops.families import check_data
from mlops.settings import DataSettings
from mlops.state_files import write_file
from mlops.targets.base import VERSION_LENGTH, DataAsset

ASSET_FILE = "asset.json"
# Beside it, one file per other settings the same bytes passed the checks under.
CHECKS = "checks"
CHUNK = 1 << 20
STAGING = ".staging-"


class LocalDataStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def register(self, source: Path, data: DataSettings, test_size: float = 0.2) -> DataAsset:
        """Copy, hash and validate ``source``, the file ``data.path`` names (for a
        split of ``test_size``); return its version (new or existing). A
        ``DataError`` names the file as ``data.path`` does, never the copy."""
        shown = data_path(data)
        require_file(source, shown)
        folder = self.root / data.asset_name
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(folder)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=folder))
        try:
            copy = staging / source.name
            try:
                digest = _copy_and_hash(source, copy)
            except OSError as error:
                if error.filename != str(source):
                    raise  # the state folder's trouble, not the file's
                raise DataError(f"{shown}: cannot be read ({error.strerror})") from None
            version = digest[:VERSION_LENGTH]
            key = checked_with(data, test_size)
            if existing := self._read(folder / version):
                return _checked(existing, folder / version, copy, data, test_size, key)
            # Validate the copy, not the source: the bytes checked are the bytes kept.
            profile = check_data(copy, data, test_size, shown)
            asset = DataAsset(
                name=data.asset_name,
                version=version,
                path=str(folder / version / source.name),
                sha256=digest,
                rows=profile.rows,
                columns=profile.columns,
                classes=profile.classes,
                checked_with=key,
                created=datetime.now(UTC).isoformat(timespec="microseconds"),
            )
            (staging / ASSET_FILE).write_text(json.dumps(asdict(asset), indent=2))
            try:
                staging.rename(folder / version)
            except OSError:
                # Another process registered the same bytes first.
                if existing := self._read(folder / version):
                    return _checked(existing, folder / version, copy, data, test_size, key)
                raise
            return replace(asset, new=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def latest(self, name: str) -> DataAsset | None:
        """The most recently created version of ``name``, if any."""
        assets = [a for d in (self.root / name).glob("*") if (a := self._read(d))]
        return max(assets, key=lambda a: a.created, default=None)

    def get(self, name: str, version: str) -> DataAsset | None:
        return self._read(self.root / name / version)

    @staticmethod
    def _read(folder: Path) -> DataAsset | None:
        try:
            fields = json.loads((folder / ASSET_FILE).read_text())
        except (OSError, ValueError):
            return None
        # The copy's path follows the folder, so a moved checkout keeps its assets.
        path = str(folder / Path(fields["path"]).name)
        return DataAsset(
            **{
                **fields,
                "path": path,
                "columns": tuple(fields["columns"]),
                "classes": tuple(fields.get("classes", ())),
                "new": False,
            }
        )


def _checked(
    asset: DataAsset, folder: Path, copy: Path, data: DataSettings, test_size: float, key: str
) -> DataAsset:
    """The registered ``asset`` (in ``folder``) as settings of digest ``key`` see it:
    the checks run again on ``copy``, the same bytes, unless they passed under
    those settings before; its target values (``classes``) are those settings'."""
    if asset.checked_with == key:
        return asset
    record = folder / CHECKS / f"{key}.json"
    try:
        classes = tuple(json.loads(record.read_text())["classes"])
    except (OSError, ValueError, KeyError, TypeError):
        profile = check_data(copy, data, test_size, data_path(data))
        classes = profile.classes
        record.parent.mkdir(exist_ok=True)
        write_file(record, json.dumps({"classes": list(classes)}).encode())
    return replace(asset, classes=classes)


def _remove_stale_staging(folder: Path) -> None:
    # A registration killed before its `finally` ran (kill -9, power loss) leaves
    # its staging folder; one whose process is gone is removed.
    for staging in folder.glob(f"{STAGING}*"):
        pid = staging.name.removeprefix(STAGING).partition("-")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


def _copy_and_hash(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()
