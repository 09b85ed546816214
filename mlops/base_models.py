"""The base model a text-generation model is fine-tuned from: the pipeline's
``base_model`` input.

On Azure it is ``finetune.base_model`` as written (a model catalog asset or a
registered model, which Azure ML mounts for the train step). Locally it is
the folder ``finetune.local_base_model`` names, checked to hold a model, or,
for ``tiny``, the small GPT-2-style model ``pipelines/src/tiny_model.py``
builds from the registered training data: built once per data version into
``state_dir/base-models/`` (seconds on a CPU), complete or not at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.data_plane import SOURCE, module
from mlops.errors import UserError
from mlops.settings import TINY_BASE_MODEL, SettingsError

if TYPE_CHECKING:
    from mlops.settings import Settings
    from mlops.targets.base import DataAsset

BUILDER = SOURCE / "tiny_model.py"
FOLDER = "base-models"
# The packages the fine-tuning steps need (the llm dependency group).
NEEDED = ("torch", "transformers", "peft", "accelerate")


class BaseModelError(UserError):
    """The base model cannot be had; the message says why and what to do."""


def base_model(settings: Settings, asset: DataAsset) -> Path | str:
    """The ``base_model`` input of a run of ``settings``' model on ``asset``."""
    finetune = settings.finetune
    if settings.target == "azure":
        return finetune.base_model
    require_packages()
    if finetune.local_base_model == TINY_BASE_MODEL:
        return tiny_model(settings, asset)
    folder = Path(finetune.local_base_model)
    folder = folder if folder.is_absolute() else (settings.source.parent / folder).resolve()
    try:
        module("text_model").model_files(folder)
    except ValueError as problem:
        raise SettingsError(
            f"{settings.source}: finetune.local_base_model: {problem}; name a model's folder, "
            f"or {TINY_BASE_MODEL} for the small model built from the training data"
        ) from None
    return folder


def require_packages() -> None:
    """Raise ``BaseModelError`` unless the fine-tuning steps' packages are installed."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise BaseModelError(
            f"a text-generation model needs {', '.join(missing)} (the llm dependency group, "
            "with the CPU build of torch): run `make llm-setup`"
        )


def tiny_model(settings: Settings, asset: DataAsset) -> Path:
    """The tiny base model built from ``asset``'s examples, built now if need be."""
    digest = hashlib.sha256(asset.sha256.encode() + BUILDER.read_bytes()).hexdigest()[:16]
    root = settings.resolve(settings.state_dir) / FOLDER
    folder = root / f"tiny-{digest}"
    if (folder / "MLmodel").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".building-{os.getpid()}-", dir=root))
    try:
        built = staging / "model"
        from mlops.targets.local.child_env import child_env  # the step's own environment

        done = subprocess.run(
            [sys.executable, BUILDER.name, "--data", asset.path, "--output", str(built)],
            cwd=SOURCE,
            env=child_env(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BaseModelError(f"the tiny base model could not be built from {asset.ref}: {last}")
        try:
            built.rename(folder)
        except OSError:
            if not (folder / "MLmodel").is_file():  # not another build's, finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
