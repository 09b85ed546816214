"""Reuse of a step's outputs from an earlier run, as Azure ML reuses a pipeline node.

Azure ML does not run a component again when a run of the same component
with the same inputs has completed (unless the component says
``is_deterministic: false`` or the pipeline ``settings.force_rerun: true``):
the node is reused, its outputs are the earlier node's. The local runner
does the same. A step's key is the SHA-256 of what decides its outputs:

- its command line as the component writes it, the digest of its code folder
  and of its component file;
- the environment it runs in: this interpreter and the packages installed
  beside it;
- each input: a literal's value, a file's or folder's content digest, or, for
  another step's output, that step's key and the run that produced it.

A completed step is recorded under ``<state>/cache/steps/<key>.json`` with the
run that produced it and its outputs (relative to the run store's folder);
a step whose key is recorded, and whose outputs are all still there, is
reused. A failed or canceled step is never recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops.pipeline_graph import Step
from mlops.targets.local.files import private_folder, write_private

FORMAT = 1
# Input types that name files: identified by their content (or producer), not their path.
DATA_TYPES = {"uri_file", "uri_folder", "mlflow_model", "custom_model", "mltable", "triton_model"}
SKIPPED = {"__pycache__", ".pytest_cache"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class Reused:
    """The outputs of an earlier run of a step, found by its key."""

    run_id: str
    outputs: dict[str, Path]
    log: str | None


class StepReuse:
    """The reuse records of one state folder, for the run ``run_id``."""

    def __init__(self, folder: Path, runs_root: Path, run_id: str, state: Path) -> None:
        """Records under ``folder``, runs under ``runs_root``; ``state`` (the state
        folder) is never part of a code folder's digest, should it lie inside one."""
        self.folder = folder
        self.runs_root = runs_root
        self.run_id = run_id
        self.state = state.resolve()
        self._origins: dict[Path, str] = {}  # an output this run bound -> its identity
        self._digests: dict[Path, str] = {}
        self._environment: str | None = None

    def key(self, step: Step, values: Mapping[str, object]) -> str | None:
        """The key of ``step`` run with the input ``values``; None when the component
        says its outputs may differ between runs (``is_deterministic: false``)."""
        if not step.deterministic:
            return None
        spec = {
            "format": FORMAT,
            "command": step.command,
            "code": self._digest(step.code) if step.code else None,
            "component": self._digest(step.source) if step.source else None,
            "environment": self._environment_digest(),
            "inputs": {
                name: self._identity(value, step.inputs[name].type in DATA_TYPES)
                for name, value in sorted(values.items())
            },
            "outputs": {name: port.type for name, port in sorted(step.outputs.items())},
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def find(self, key: str | None) -> Reused | None:
        """The recorded outputs for ``key``, if every one of them is still there."""
        if key is None:
            return None
        try:
            record = json.loads((self.folder / f"{key}.json").read_text())
            outputs = {name: self.runs_root / path for name, path in record["outputs"].items()}
            run_id, log = record["run_id"], record.get("log")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not all(path.exists() for path in outputs.values()):
            return None
        return Reused(run_id, outputs, log and str(self.runs_root / log))

    def bound(self, key: str | None, origin_run: str, outputs: Mapping[str, Path]) -> None:
        """Note that ``outputs`` (name -> path) come from the step with ``key`` as run
        by ``origin_run``: the identity of what a later step reads from them."""
        for name, path in outputs.items():
            origin = f"{key}:{name}@{origin_run}" if key else f"unkeyed:{self.run_id}:{path}"
            self._origins[Path(path)] = origin

    def record(self, key: str | None, outputs: Mapping[str, Path], log: str | None) -> None:
        """Record that this run's step with ``key`` completed with ``outputs``."""
        if key is None:
            return
        record = {
            "run_id": self.run_id,
            "outputs": {name: self._relative(path) for name, path in outputs.items()},
            "log": log and self._relative(Path(log)),
        }
        private_folder(self.folder)
        write_private(self.folder / f"{key}.json", json.dumps(record, indent=2).encode())

    def _relative(self, path: Path) -> str:
        return Path(path).relative_to(self.runs_root).as_posix()

    def _identity(self, value: object, data: bool) -> object:
        if data and isinstance(value, Path | str):
            path = Path(value)
            if path in self._origins:
                return self._origins[path]
            if path.exists():
                return self._digest(path)
        return json.dumps(value, sort_keys=True, default=str)

    def _digest(self, path: Path) -> str:
        """The SHA-256 of a file's bytes, or of a folder's file names and bytes."""
        path = Path(path)
        if path not in self._digests:
            digest = hashlib.sha256()
            files = [path] if path.is_file() else sorted(_files(path, self.state))
            for file in files:
                digest.update(file.relative_to(path).as_posix().encode() + b"\0")
                with file.open("rb") as reader:
                    while chunk := reader.read(CHUNK):
                        digest.update(chunk)
                digest.update(b"\0")
            self._digests[path] = digest.hexdigest()
        return self._digests[path]

    def _environment_digest(self) -> str:
        # The steps run with this interpreter's folder first on PATH: its version and
        # the distributions installed beside it (their folder names carry versions).
        if self._environment is None:
            installed = set()
            for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
                try:
                    installed |= {n for n in os.listdir(folder) if n.endswith(".dist-info")}
                except OSError:
                    continue
            text = "\n".join([sys.version, os.path.realpath(sys.executable), *sorted(installed)])
            self._environment = hashlib.sha256(text.encode()).hexdigest()
        return self._environment


def _files(folder: Path, state: Path):
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if d not in SKIPPED and (Path(root) / d).resolve() != state
        )
        for name in names:
            if not name.endswith(".pyc"):
                yield Path(root) / name
