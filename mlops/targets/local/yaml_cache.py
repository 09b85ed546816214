"""What azure-ai-ml's loader made of the pipeline and deployment YAML, kept between runs.

Importing azure-ai-ml and validating a pipeline costs about two seconds,
more than the rest of a run's overhead together, and gives the same answer
as long as the files it read are the same. So the loader runs in a spawned
process that records, with an audit hook, every file outside the Python
installation it opened; its result is written as JSON in the user's cache
folder (``user_cache``, ``yaml/``) with the SHA-256 of each of those files,
the SDK's version and this format's version, paths inside the project
written relative to it. A later load is a hit only if all of
them still match, so editing any YAML the loader read, a component it
pulled in, a conda file, or upgrading the SDK means loading again. Errors
are never cached. JSON, not pickle: nothing read from the cache can run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from mlops.deployment_spec import DeploymentSpec, load_deployment_spec
from mlops.pipeline_graph import (
    Binding,
    PipelineGraph,
    Port,
    Step,
    load_pipeline,
)
from mlops.targets.local.files import private_folder, write_private

# 2: ports carry their min/max and steps their component file; 3: reuse settings.
FORMAT = 3
SDK = "azure-ai-ml"
# How an entry writes the project folder: not a path, so never taken for one.
ROOT = "${project}"


# -- in the loading process -------------------------------------------------


_recording: list[set[str]] = []  # the files opened while a load is recorded
_hooked = False


def _record_open(event: str, args: tuple) -> None:
    if _recording and event == "open" and isinstance(args[0], str | Path):
        _recording[-1].add(os.path.realpath(args[0]))


def load_recording(kind: str, path: Path) -> tuple[dict, dict[str, str]]:
    """Load ``path`` as ``kind`` ("pipeline" or "deployment") and return the result
    as JSON-ready data with the digests of the files outside the Python
    installation the loader opened. (An audit hook cannot be removed: it is
    installed once per process and records only during a load.)"""
    global _hooked
    if not _hooked:
        sys.addaudithook(_record_open)
        _hooked = True
    installed = tuple(
        os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}
    )
    _recording.append(set())
    try:
        if kind == "pipeline":
            data = _graph_to_json(load_pipeline(path))
        else:
            data = _spec_to_json(load_deployment_spec(path))
    finally:
        opened = _recording.pop()
    files = {
        name: _digest(Path(name))
        for name in sorted(opened | {os.path.realpath(path)})
        if not name.startswith(installed) and os.path.isfile(name)
    }
    return data, files


# -- in the mlops process ----------------------------------------------------


class YamlCache:
    """Loaded pipeline graphs and deployment specs, under ``folder``, for the project
    in ``root``. Paths inside ``root`` are kept relative to it, so another checkout
    of the same files (a clone, a worktree, a moved project) finds the entry too;
    paths outside it are kept as they are."""

    def __init__(self, folder: Path, root: Path | None = None) -> None:
        self.folder = folder
        self.root = os.path.realpath(root) if root is not None else None

    def pipeline(self, path: Path) -> PipelineGraph | None:
        data = self._read("pipeline", path)
        return None if data is None else _graph_from_json(data)

    def deployment(self, path: Path) -> DeploymentSpec | None:
        data = self._read("deployment", path)
        spec = None if data is None else _spec_from_json(data)
        # The loader checked the scoring script exists; that is not a file it read.
        return spec if spec is not None and spec.script.is_file() else None

    def store(self, kind: str, path: Path, data: dict, files: Mapping[str, str]) -> None:
        entry = {
            "format": FORMAT,
            "sdk": _sdk_version(),
            "files": {self._relative(name): digest for name, digest in files.items()},
            "data": self._relative(data),
        }
        try:
            private_folder(self.folder)
            write_private(self._entry(kind, path), json.dumps(entry).encode())
        except OSError:
            pass  # a cache that cannot be written only costs time

    def _read(self, kind: str, path: Path) -> dict | None:
        try:
            entry = json.loads(self._entry(kind, path).read_text())
            if entry["format"] != FORMAT or entry["sdk"] != _sdk_version():
                return None
            files = {self._absolute(name): digest for name, digest in entry["files"].items()}
            if any(_digest(Path(name)) != digest for name, digest in files.items()):
                return None
            return self._absolute(entry["data"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, unreadable or from another format: load again

    def _entry(self, kind: str, path: Path) -> Path:
        key = hashlib.sha256(self._relative(os.path.realpath(path)).encode()).hexdigest()[:24]
        return self.folder / f"{kind}-{key}.json"

    def _relative(self, value):
        """``value`` (JSON data) with every path inside ``root`` written from ``ROOT``."""
        if isinstance(value, dict):
            return {self._relative(k): self._relative(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._relative(item) for item in value]
        if isinstance(value, str) and self.root and _inside(value, self.root):
            return ROOT + value[len(self.root) :]
        return value

    def _absolute(self, value):
        if isinstance(value, dict):
            return {self._absolute(k): self._absolute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._absolute(item) for item in value]
        if isinstance(value, str) and value.startswith(ROOT) and self.root:
            return self.root + value[len(ROOT) :]
        return value


def _inside(value: str, root: str) -> bool:
    return value == root or value.startswith(root.rstrip(os.sep) + os.sep)


def cached_load(
    cache: YamlCache, kind: str, path: Path, submit: Callable[..., object] | None = None
):
    """A function returning ``path`` loaded as ``kind``: from ``cache`` when it
    holds an entry for these very files, else by ``load_recording`` (in this
    process, or through ``submit`` giving a future, e.g. a process pool's),
    stored on success. Loader errors are raised by the returned function."""
    hit = cache.pipeline(path) if kind == "pipeline" else cache.deployment(path)
    if hit is not None:
        return lambda: hit
    if submit is None:
        loaded = load_recording(kind, path)
        future = None
    else:
        future = submit(load_recording, kind, path)

    def result():
        data, files = future.result() if future is not None else loaded
        cache.store(kind, path, data, files)
        return _graph_from_json(data) if kind == "pipeline" else _spec_from_json(data)

    return result


def _sdk_version() -> str:
    try:
        return metadata.version(SDK)
    except metadata.PackageNotFoundError:
        return "absent"


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# -- JSON forms --------------------------------------------------------------


def _value(value: object) -> object:
    return {"__path__": str(value)} if isinstance(value, Path) else value


def _unvalue(value: object) -> object:
    return Path(value["__path__"]) if isinstance(value, dict) and "__path__" in value else value


def _graph_to_json(graph: PipelineGraph) -> dict:
    return {
        "path": str(graph.path),
        "inputs": {k: _value(v) for k, v in graph.inputs.items()},
        "outputs": dict(graph.outputs),
        "steps": [
            {
                "name": step.name,
                "display_name": step.display_name,
                "command": step.command,
                "code": str(step.code) if step.code else None,
                "inputs": {
                    k: {**asdict(p), "default": _value(p.default)} for k, p in step.inputs.items()
                },
                "outputs": {
                    k: {**asdict(p), "default": _value(p.default)} for k, p in step.outputs.items()
                },
                "bindings": {
                    k: {
                        "literal": _value(b.literal),
                        "parent_input": b.parent_input,
                        "step_output": list(b.step_output) if b.step_output else None,
                    }
                    for k, b in step.bindings.items()
                },
                "published": dict(step.published),
                "source": str(step.source) if step.source else None,
                "deterministic": step.deterministic,
            }
            for step in graph.steps
        ],
        "force_rerun": graph.force_rerun,
    }


def _port(data: dict) -> Port:
    return Port(**{**data, "default": _unvalue(data["default"])})


def _graph_from_json(data: dict) -> PipelineGraph:
    steps = tuple(
        Step(
            name=s["name"],
            display_name=s["display_name"],
            command=s["command"],
            code=Path(s["code"]) if s["code"] else None,
            inputs={k: _port(p) for k, p in s["inputs"].items()},
            outputs={k: _port(p) for k, p in s["outputs"].items()},
            bindings={
                k: Binding(
                    literal=_unvalue(b["literal"]),
                    parent_input=b["parent_input"],
                    step_output=tuple(b["step_output"]) if b["step_output"] else None,
                )
                for k, b in s["bindings"].items()
            },
            published=s["published"],
            source=Path(s["source"]) if s["source"] else None,
            deterministic=s["deterministic"],
        )
        for s in data["steps"]
    )
    return PipelineGraph(
        path=Path(data["path"]),
        inputs={k: _unvalue(v) for k, v in data["inputs"].items()},
        outputs=data["outputs"],
        steps=steps,
        force_rerun=data["force_rerun"],
    )


def _spec_to_json(spec: DeploymentSpec) -> dict:
    return {**asdict(spec), "path": str(spec.path), "code": str(spec.code)}


def _spec_from_json(data: dict) -> DeploymentSpec:
    return DeploymentSpec(**{**data, "path": Path(data["path"]), "code": Path(data["code"])})
