"""Pipeline run records of the local target: ``<state>/runs/<run-id>/run.json``.

A record names the files of its run (outputs, step logs) relative to the run
store's folder, so a moved or copied state folder keeps its runs usable; in
memory they are absolute paths. Records written with absolute paths are read
as they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from mlops.targets.base import PipelineRun, RunNotFound, StepRun
from mlops.targets.local.files import private_folder, write_private

RUN_FILE = "run.json"


class LocalRunStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, run_id: str) -> Path:
        return self.root / run_id

    def save(self, run: PipelineRun) -> None:
        """Write ``run``'s record atomically, owner-only: the paths in it are
        what a later deploy serves from."""
        folder = private_folder(self.folder(run.run_id))
        fields = asdict(run)
        fields["outputs"] = {name: self._relative(path) for name, path in run.outputs.items()}
        for step in fields["steps"]:
            step["log"] = step["log"] and self._relative(step["log"])
        write_private(folder / RUN_FILE, json.dumps(fields, indent=2).encode())

    def get(self, run_id: str) -> PipelineRun:
        if run_id == "latest":
            matches = sorted(self.root.glob(f"*/{RUN_FILE}"))[-1:]
        else:
            matches = list(self.root.glob(f"{run_id}*/{RUN_FILE}")) if run_id else []
        if len(matches) != 1:
            reason = "no run" if not matches else f"{len(matches)} runs"
            raise RunNotFound(f"{reason} matching {run_id!r} (see `mlops runs`)")
        return self._load(matches[0])

    def list(self) -> list[PipelineRun]:
        return [self._load(path) for path in sorted(self.root.glob(f"*/{RUN_FILE}"), reverse=True)]

    def _relative(self, path: str) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return path  # outside the store (a test's stand-in): kept as it is

    def _load(self, path: Path) -> PipelineRun:
        fields = json.loads(path.read_text())
        fields["outputs"] = {k: str(self.root / v) for k, v in fields["outputs"].items()}
        fields["steps"] = tuple(
            StepRun(**{**step, "log": step["log"] and str(self.root / step["log"])})
            for step in fields["steps"]
        )
        return PipelineRun(**fields)
