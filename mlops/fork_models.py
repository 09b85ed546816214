"""The fork's models side by side: what each is and serves, and which a change touches.

``describe(fork)`` is the table of ``mlops models list``: per model its kind,
endpoint, the version serving in each environment and its last run.
``affected(fork, changed)`` is what a workflow trains after a push: the models
whose own folder, or a shared file they use (their pipeline, its components,
their code and environments, their deployment, metric catalogue and data),
is among the ``changed`` paths; a change to what every model runs on (the
``mlops`` package, the fork's settings, the locked packages) touches them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from mlops.errors import UserError
from mlops.settings import Fork, Settings, load_settings
from mlops.text_table import table

# Paths under the fork's folder that every model runs on.
SHARED_BY_ALL = ("mlops.yml", "mlops/", "pyproject.toml", "uv.lock")


def describe(fork: Fork, env_only: str | None = None) -> str:
    """One row per model: kind, endpoint, the serving version in each environment
    (locally: no environment and each of ``environments``; on Azure: the
    workspace's), and the last pipeline run with its status."""
    from mlops.targets import get_target

    if not fork.models:
        return "no model yet: add one with `mlops new-model NAME --kind KIND`"
    local = fork.settings.target == "local"
    envs: list[str | None] = [env_only] if env_only else [None]
    if local and not env_only:
        envs += list(fork.settings.environments)
    header = ["model", "kind", "endpoint", *[f"serving ({e or 'no env'})" for e in envs]]
    header.append("last run")
    rows = []
    for name in fork.models:
        cells: list[str] = []
        kind = endpoint = "-"
        last = "-"
        for env in envs:
            try:
                settings = load_settings(fork.source, env=env, model=name)
                target = get_target(settings)
                kind, endpoint = settings.kind, settings.endpoint.name
                cells.append(_serving(target))
                if env == envs[0]:
                    runs = target.list_runs()
                    last = f"{runs[0].run_id} {runs[0].status}" if runs else "none"
            except UserError as error:
                cells.append("?")
                last = f"error: {error}"
                break
        cells += ["?"] * (len(envs) - len(cells))
        rows.append((name, kind, endpoint, *cells, last))
    return table(header, rows)


def _serving(target) -> str:
    endpoint = target.get_endpoint()
    serving = endpoint.serving() if endpoint else None
    return serving.model.rpartition(":")[2] if serving else "-"


def affected(fork: Fork, changed: Sequence[str], *, every: bool = False) -> list[str]:
    """The names of the models that ``changed`` (paths relative to the fork's folder,
    as ``git diff --name-only`` prints them) touch; every model with ``every``."""
    if every:
        return list(fork.models)
    paths = [_clean(path) for path in changed]
    if any(path == shared or path.startswith(shared) for path in paths for shared in SHARED_BY_ALL):
        return list(fork.models)
    touched = []
    for name in fork.models:
        try:
            settings = load_settings(fork.source, model=name)
        except UserError:
            touched.append(name)  # its own run says what is wrong with it
            continue
        used = [_relative(fork.root, p) for p in used_paths(settings)]
        used.append(f"models/{name}/")
        if any(_under(path, use) for path in paths for use in used if use is not None):
            touched.append(name)
    return touched


def used_paths(settings: Settings) -> list[Path]:
    """The files and folders model ``settings`` runs: its pipeline YAML, each
    component it names with the component's code folder and conda file, its
    deployment YAML with its code folder and conda file, its metric catalogue
    and its data file."""
    used = [settings.resolve(settings.pipeline.file), settings.resolve(settings.pipeline.metrics)]
    source = settings.data_source()
    if isinstance(source, Path):
        used.append(source)
    pipeline = used[0]
    for job in _jobs(pipeline):
        component = job.get("component")
        if isinstance(component, str) and not component.startswith("azureml:"):
            path = (pipeline.parent / component).resolve()
            used += [path, *_code_and_environment(path, _read(path))]
        elif isinstance(component, dict):
            used += _code_and_environment(pipeline, component)
    deployment = settings.resolve(settings.endpoint.deployment)
    spec = _read(deployment)
    code = spec.get("code_configuration", {})
    used.append(deployment)
    used += _code_and_environment(deployment, {"code": code.get("code"), **spec})
    return used


def _jobs(pipeline: Path) -> Iterable[dict]:
    jobs = _read(pipeline).get("jobs", {})
    return [job for job in jobs.values() if isinstance(job, dict)] if isinstance(jobs, dict) else []


def _code_and_environment(path: Path, spec: dict) -> list[Path]:
    found = []
    code = spec.get("code")
    if isinstance(code, str) and not code.startswith("azureml:"):
        found.append((path.parent / code).resolve())
    environment = spec.get("environment")
    if isinstance(environment, dict) and isinstance(environment.get("conda_file"), str):
        found.append((path.parent / environment["conda_file"]).resolve())
    return found


def _read(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _relative(root: Path, path: Path) -> str | None:
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None  # outside the fork: no commit changes it
    return relative + "/" if path.is_dir() else relative


def _clean(path: str) -> str:
    return path.strip().removeprefix("./")


def _under(path: str, used: str) -> bool:
    return path == used.rstrip("/") or (used.endswith("/") and path.startswith(used))
