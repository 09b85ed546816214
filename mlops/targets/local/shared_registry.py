"""The registry the local environments share: promoted model versions.

The local stand-in for an Azure ML registry. Under ``state_dir/registry/``:
an MLflow registry (``mlflow.db``) whose versions of ``model.name`` point at
copies of the promoted files (``models/<sha256 of the files>/``), each with
the smoke-test request it was promoted with (``samples/<version>.json``) and
the files promoted with it: its monitor baseline and model card
(``promoted-with/<sha256>/``, ``mlops.monitoring.baseline``, ``mlops.model_card``).
The copy is the registry's own, so no environment's state, cleaned or
reset, can change what a registry version serves.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlops.state_files import write_file
from mlops.targets.base import DIGEST_TAG, ModelNotFound, ModelVersion, newest
from mlops.targets.local.blank_store import quiet_store_logs
from mlops.targets.local.files import private_folder
from mlops.targets.local.registry import to_model_version
from mlops.targets.local.tracking import store_uri

DB_FILE = "mlflow.db"
PROMOTED_WITH = "promoted-with"


class SharedRegistry:
    def __init__(self, folder: Path, model_name: str) -> None:
        self.folder = folder
        self.name = model_name
        private_folder(folder)
        uri = store_uri(folder / DB_FILE, folder / "mlartifacts")
        quiet_store_logs()
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def promote(
        self,
        model_dir: Path,
        tags: Mapping[str, str],
        sample: bytes,
        promoted_with: Path | None = None,
    ) -> ModelVersion:
        """A version holding a copy of ``model_dir`` (and of the ``promoted_with``
        folder beside it); the version already holding files with the same digest
        (``DIGEST_TAG``) when there is one, given those files if it had none."""
        digest = tags[DIGEST_TAG]
        # Those files first: a version, once it exists, is whole.
        if promoted_with is not None:
            self._copy(promoted_with, self.folder / PROMOTED_WITH / digest)
        existing = next((v for v in self.list() if v.digest == digest), None)
        if existing is not None:
            return existing
        copy = self._copy(model_dir, self.folder / "models" / digest)
        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            self.client.create_registered_model(
                self.name, description="Promoted by `mlops promote`; see the version tags."
            )
        version = self.client.create_model_version(self.name, source=copy.as_uri(), tags=dict(tags))
        sample_file = self.folder / "samples" / f"{version.version}.json"
        sample_file.parent.mkdir(parents=True, exist_ok=True)
        write_file(sample_file, sample)
        return to_model_version(version, new=True)

    @staticmethod
    def _copy(source: Path, target: Path) -> Path:
        """``target``, a copy of folder ``source`` made whole or not at all (kept
        when it exists: its name is the digest of what it holds)."""
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".promote-", dir=target.parent))
        try:
            shutil.copytree(source, staging / "copy")
            (staging / "copy").rename(target)
        except OSError:
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def get(self, version: str) -> ModelVersion:
        if version == "latest":
            return newest(self.list(), f"the registry holds no version of {self.name!r} yet")
        try:
            return to_model_version(self.client.get_model_version(self.name, version))
        except MlflowException:
            raise ModelNotFound(
                f"the registry has no version {version!r} of {self.name!r} (see `mlops promote`)"
            ) from None

    def list(self) -> list[ModelVersion]:
        """Every version of the model, newest first."""
        try:
            found = self.client.search_model_versions(f"name = '{self.name}'")
        except MlflowException:
            return []
        return sorted(
            (to_model_version(v) for v in found), key=lambda v: int(v.version), reverse=True
        )

    def sample(self, version: str) -> bytes | None:
        try:
            return (self.folder / "samples" / f"{version}.json").read_bytes()
        except OSError:
            return None

    def promoted_with(self, version: str) -> Path | None:
        """The folder of files promoted with ``version``, if any."""
        folder = self.folder / PROMOTED_WITH / (self.get(version).digest or "-")
        return folder if folder.is_dir() else None
