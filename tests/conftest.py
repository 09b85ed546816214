"""Shared fixtures: a throw-away project (settings + a slice of the sample data), and
copies of one project trained once per test session."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "credit-default" / "credit_default.csv"
SLICE_ROWS = 3000

# The step scripts import their helpers as `common`, as they do in their code folder.
sys.path.insert(0, str(REPO / "pipelines" / "src"))

# skops.io, when first imported, looks up the module of each of its ~800 trusted
# types by scanning every module loaded so far; after the infra tests have loaded
# pulumi_azure_native's thousands of modules that scan takes 20 s a worker.
# Imported here, before them, it takes a second; through model_format, as the steps
# import it, without importing torch on the way (see there).
import model_format  # noqa: E402, F401

# `make test` runs three workers on two cores: trainings at once, each with an
# OpenMP thread per core, spin for minutes instead of seconds. One thread each
# (the steps and servers pass OMP_NUM_THREADS on) keeps them to seconds.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Run inside a GitHub Actions job, the verbs would append their outputs and
# summaries to that job's files and ask GitHub about its environment
# (mlops/github.py); the tests give their own.
for _name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
    os.environ.pop(_name, None)

# `make test` hands whole files to its workers in the order they were collected,
# each taking the next file when it is done. Started last, one of these files ran
# on alone for the last 30-50 s of the run; started first, the short files fill in
# around them. Longest first (seconds beside the other two workers, 2 cores: 137,
# 126, 65, 55, 51, 51, 43, 38, 37, 37, 36, 33, 23); the rest keep their order.
LONGEST_FILES = (
    "github/test_contract.py",
    "mlops/test_fail_closed.py",
    "e2e/test_change_of_task.py",
    "github/test_monitor_loop.py",
    "e2e/test_fine_tune.py",
    "mlops/test_deploy.py",
    "e2e/test_run.py",
    "e2e/test_kinds.py",
    "mlops/targets/local/endpoint/test_router.py",
    "mlops/targets/azure/test_target.py",
    "mlops/targets/azure/test_monitoring.py",
    "mlops/targets/azure/test_registry.py",
    "mlops/test_reproduce.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    tests = REPO / "tests"

    def order(item: pytest.Item) -> int:
        inside = item.path.is_relative_to(tests)  # not so for a path given from elsewhere
        return rank.get(item.path.relative_to(tests).as_posix(), len(rank)) if inside else len(rank)

    # A stable sort: the tests of one file stay together and in their order.
    items.sort(key=order)


def sample_frame(rows: int = SLICE_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of the sample data set."""
    return pd.read_csv(SAMPLE, nrows=rows)


SAMPLE_MODEL = "credit-default"
# The sample model's state folder in a project, in no environment.
STATE = Path(".mlops") / "models" / SAMPLE_MODEL
# Keys of the fork's own file; every other section is the model's.
FORK_KEYS = ("target", "state_dir", "environments", "local", "azure", "defaults")
MODEL_PATHS = (
    ("data", "path"),
    ("pipeline", "file"),
    ("pipeline", "metrics"),
    ("endpoint", "deployment"),
)


def write_settings(root: Path, as_model: str = SAMPLE_MODEL, **sections) -> Path:
    """Write the fork's ``mlops.yml`` in ``root`` and model ``as_model``'s
    ``models/<as_model>/mlops.yml``: the repository's (the sample model's) with
    ``sections`` merged in, each into the file it belongs to. Paths in
    ``sections`` are relative to ``root``. Returns the fork's file."""
    fork = yaml.safe_load((REPO / "mlops.yml").read_text())
    own = yaml.safe_load((REPO / "models" / SAMPLE_MODEL / "mlops.yml").read_text())
    for section, key in MODEL_PATHS:
        value = own.get(section, {}).get(key)
        if value is not None:  # the sample's paths, from where the sample is
            own[section][key] = str((REPO / "models" / SAMPLE_MODEL / value).resolve())
    for key, value in sections.items():
        settings = fork if key in FORK_KEYS else own
        if isinstance(value, dict):
            settings[key] = {**settings.get(key, {}), **value}
        else:
            settings[key] = value
    for section, key in MODEL_PATHS:
        value = (own.get(section) or {}).get(key) if isinstance(own.get(section), dict) else None
        if isinstance(value, str) and not value.startswith("azureml:"):
            path = Path(value)
            own[section][key] = str(path if path.is_absolute() else Path("../..") / path)
    folder = root / "models" / as_model
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlops.yml").write_text(yaml.safe_dump(own, sort_keys=False))
    path = root / "mlops.yml"
    path.write_text(yaml.safe_dump(fork, sort_keys=False))
    return path


def model_file(root: Path, model: str = SAMPLE_MODEL) -> Path:
    """The settings file of model ``model`` of the project in ``root``."""
    return root / "models" / model / "mlops.yml"


def edit_model(root: Path, as_model: str = SAMPLE_MODEL, **sections) -> Path:
    """Merge ``sections`` into model ``as_model``'s settings file (paths as written there)."""
    path = model_file(root, as_model)
    own = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        own[key] = {**own.get(key, {}), **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump(own, sort_keys=False))
    return path


# How long a test waits for an event by default: a bound for a machine busy with
# other work (a second test suite, say), not an expectation of speed.
WAIT_SECONDS = 180


def wait_until(condition, seconds: float = WAIT_SECONDS, what: str = "the condition") -> None:
    """Wait for ``condition()`` to hold, polling every 50 ms; fail the test after
    ``seconds``. Tests that measure how fast something happens take timestamps of
    the events and assert on those, not on this bound."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(0.05)


# Below Linux's ephemeral range (32768-60999): a port the kernel hands to an outgoing
# connection (a client, a worker's sender) is never one a test picked to listen on later.
LISTEN_PORTS = (20000, 32000)


def reserve_port(port: int) -> bool:
    """Claim ``port`` for this test run, across its workers: False when a test of
    the run claimed it before (it may not listen yet, or have stopped a moment)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    folder = Path(tempfile.gettempdir()) / f"mlops-test-ports-{run}"
    folder.mkdir(exist_ok=True)
    try:
        (folder / str(port)).touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


def free_port() -> int:
    """A port free now, never handed to another test of the run, and outside the
    range outgoing connections take theirs from."""
    while True:
        port = random.randrange(*LISTEN_PORTS)
        if not reserve_port(port):
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def make_project(root: Path) -> Path:
    """Fill ``root`` with the real pipeline, a 3,000-row slice of the sample data and
    settings whose local endpoint listens on a free port."""
    shutil.copytree(REPO / "pipelines", root / "pipelines", ignore=_caches)
    shutil.copytree(REPO / "environments", root / "environments")
    data = root / "data" / "credit.csv"
    data.parent.mkdir()
    sample_frame().to_csv(data, index=False)
    write_settings(
        root,
        data={"path": "data/credit.csv"},
        local={"endpoint_port": free_port()},
        # A model trained on 2,400 rows is less sure of itself than one trained on
        # 24,000: the ceiling on log loss that suits the full data set is loosened.
        gate={
            "thresholds": [
                {"metric": "auc", "better": "higher", "min": 0.7},
                {"metric": "log_loss", "better": "lower", "max": 0.6},
            ]
        },
    )
    return root


def save_variant_run(target, settings, run, name: str, auc: float, change=None):
    """Save, as a run of its own, a copy of ``run``'s model (changed by ``change``)
    as if that run had measured ``auc``; return it. Its MLflow run is a bare holder."""
    from dataclasses import replace

    from mlflow.tracking import MlflowClient

    from mlops.targets.local.tracking import create_experiment, tracking_uri

    model = target.output_path(run, "model")
    copy = model.parent.parent / f"model-{name}"
    shutil.copytree(model, copy)
    if change:
        change(copy)
    tracking = MlflowClient(tracking_uri(target.state_dir))
    experiment = create_experiment(tracking, target.state_dir, settings.pipeline.experiment_name)
    variant = replace(
        run,
        # Not a prefix of the source's id: a run is found by a unique prefix of its id.
        run_id=f"{name}-{run.run_id}",
        tracking_run_id=tracking.create_run(experiment).info.run_id,
        outputs={**run.outputs, "model": str(copy)},
        metrics={**run.metrics, "auc": auc},
    )
    target.runs.save(variant)
    return variant


def stop_endpoints(root: Path) -> None:
    """Stop every local endpoint a test started under ``root``, in any environment
    (their processes outlive the test)."""
    from concurrent.futures import ThreadPoolExecutor

    from mlops.targets.local.endpoint import LocalEndpoint

    states = list((root / ".mlops").rglob("endpoints/*/endpoint.json"))
    # Each waits for its own processes to end: side by side, not one after another.
    with ThreadPoolExecutor(max_workers=max(1, len(states))) as pool:
        ends = [
            pool.submit(LocalEndpoint(state.parent.parent, state.parent.name, 0).delete)
            for state in states
        ]
    for ended in ends:
        ended.result()  # a failure to stop is the test's failure


@pytest.fixture
def project(tmp_path: Path):
    """A project folder (see ``make_project``); its endpoint is stopped afterwards."""
    yield make_project(tmp_path)
    stop_endpoints(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory) -> Path:
    """The user cache folder ``mlops`` shares between projects (an empty MLflow store,
    the YAML loader's results), one per test session: shared by its workers and
    projects, never the developer's own."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / "user-cache"
    os.environ["XDG_CACHE_HOME"] = str(folder)
    return folder


def shared_folder(tmp_path_factory, name: str, build) -> Path:
    """The folder ``name``, built by ``build(folder)`` once per test session: the first
    worker to need it builds it, the others wait for it on a file lock."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, shared by its workers
    folder = base / name
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


def _train(root: Path) -> None:
    from mlops import lifecycle
    from mlops.settings import load_settings
    from mlops.targets import get_target

    make_project(root)
    settings = load_settings(root / "mlops.yml")
    target = get_target(settings)
    lifecycle.register_data(target, settings)
    run = lifecycle.train(target, settings, lambda line: None)
    assert run.status == "Completed", run.error
    get_target(settings)  # records where the state folder is, as any later command would


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory) -> Path:
    """A project (see ``make_project``) with its data registered and one completed
    pipeline run, trained once per session; never changed: tests take copies."""
    return shared_folder(tmp_path_factory, "trained-project", _train)


FINE_TUNED_MODEL = "number-words"
FINE_TUNED_EXAMPLES = 400  # of the sample's 1,200: a fine-tune of seconds


def add_fine_tuned_model(project: Path) -> None:
    """The repository's text-generation model (models/number-words) as it ships,
    with the first ``FINE_TUNED_EXAMPLES`` of its examples."""
    shutil.copytree(REPO / "models" / FINE_TUNED_MODEL, project / "models" / FINE_TUNED_MODEL)
    data = project / "data" / "number-words"
    data.mkdir(parents=True)
    lines = (REPO / "data" / "number-words" / "number_words.jsonl").read_text().splitlines()
    (data / "number_words.jsonl").write_text("\n".join(lines[:FINE_TUNED_EXAMPLES]) + "\n")


def _fine_tune(root: Path) -> None:
    from mlops import lifecycle
    from mlops.settings import load_settings
    from mlops.targets import get_target

    make_project(root)
    add_fine_tuned_model(root)
    settings = load_settings(root / "mlops.yml", model=FINE_TUNED_MODEL)
    target = get_target(settings)
    lifecycle.register_data(target, settings)
    run = lifecycle.train(target, settings, lambda line: None)
    assert run.status == "Completed", run.error


@pytest.fixture(scope="session")
def fine_tuned_template(tmp_path_factory) -> Path:
    """A project (see ``make_project``) with the text-generation model beside the
    sample's (``add_fine_tuned_model``), its tiny base model built and one
    completed fine-tuning run, once per session; never changed: tests take copies."""
    return shared_folder(tmp_path_factory, "fine-tuned-project", _fine_tune)


def copy_project(template: Path, root: Path) -> Path:
    """Copy the project ``template`` into ``root`` (its state folder included, which
    settles in its new place), listening on a port of its own; return ``root``."""
    shutil.copytree(template, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".built"))
    settings = yaml.safe_load((root / "mlops.yml").read_text())
    settings["local"]["endpoint_port"] = free_port()
    (root / "mlops.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return root


@pytest.fixture
def trained(trained_template, tmp_path: Path):
    """A copy of the session's trained project (see ``trained_template``); its
    endpoint is stopped afterwards."""
    yield copy_project(trained_template, tmp_path / "project")
    stop_endpoints(tmp_path / "project")


def _caches(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]
