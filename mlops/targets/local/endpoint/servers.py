"""How one deployment's scoring server is started, by a deploy or by the router.

A deployment is ``azureml-inference-server-http`` (the server Azure ML's
managed online endpoints run) serving the scoring script, under gunicorn as
its ``azmlinfsrv`` command runs it, but bound to 127.0.0.1 rather than all
interfaces. Its folder holds the code snapshot (``code/``), the model files
as Azure ML mounts them (``azureml-models/<model>/<version>/``,
``AZUREML_MODEL_DIR``) and ``server.log``. The folder's path is the
process's marker (``--name``).

It runs ``WORKER_COUNT`` workers, read from the deployment's
``environment_variables`` as azmlinfsrv reads it; without it, two where the
machine has two cores or more, so a worker that dies leaves another
serving while gunicorn starts its replacement. Each worker gets
``OMP_NUM_THREADS`` (unless the deployment or the caller sets it) of its
share of the cores: an OpenMP team larger than that spins against the other
workers and the router, and a single-row request then waits for a
descheduled thread (the tail of the latency benchmark). With
``WORKER_PRELOAD: "true"``, as azmlinfsrv reads it, gunicorn loads the
scoring script (and its ``init()``, the model) once, in its master, and
forks the workers from it: a deployment starts in the time of one load, and
a worker that dies is replaced at once.

A deployment that collects (its entry names ``collections`` and a
``collector_port``) gets the data collector's configuration as Azure ML
gives it (``collection.py``): its records go to the router on that port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from mlops.targets.local.child_env import child_env
from mlops.targets.local.endpoint import collection, processes
from mlops.targets.local.endpoint.ports import bind_address

WORKER_TIMEOUT_SECONDS = "300"  # as azmlinfsrv sets it
LOG_FILE = "server.log"


def marker(folder: Path) -> str:
    """What identifies the server of the deployment in ``folder`` among all processes."""
    return str(folder)


def model_dir(folder: Path, item: dict) -> Path:
    """``AZUREML_MODEL_DIR`` of the deployment: where its model files are."""
    name, version = item["model"].rsplit(":", 1)
    return folder / "azureml-models" / name / version


def worker_count(variables: Mapping[str, str], cores: int | None = None) -> int:
    """How many workers the deployment whose ``environment_variables`` are
    ``variables`` runs: its ``WORKER_COUNT`` (checked by ``deployment_spec``),
    else 2 with two cores or more, else 1."""
    if "WORKER_COUNT" in variables:
        return int(variables["WORKER_COUNT"])
    return min(2, cores or os.cpu_count() or 1)


def preloads(variables: Mapping[str, str]) -> bool:
    """Whether the deployment loads its scoring script before forking its workers
    (``WORKER_PRELOAD``, false unless "true", as azmlinfsrv reads it)."""
    return variables.get("WORKER_PRELOAD", "false").lower() == "true"


def start(folder: Path, item: dict, service: str) -> subprocess.Popen:
    """Start the server of the deployment in ``folder`` described by its state entry
    ``item`` (model, port, scoring script, environment variables)."""
    code = folder / "code"
    env = child_env(
        {
            **item["environment_variables"],
            "AZUREML_MODEL_DIR": str(model_dir(folder, item)),
            "AZUREML_ENTRY_SCRIPT": str(code / item["scoring_script"]),
            "AML_APP_ROOT": str(code),
            "SERVICE_NAME": service,
            **collection.server_environment(folder, item),
        }
    )
    workers = worker_count(item["environment_variables"])
    env["WORKER_COUNT"] = str(workers)  # as azmlinfsrv sets it for the scoring script
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    command = [
        sys.executable, "-m", "gunicorn",
        "--name", marker(folder),
        "--bind", bind_address(item["port"]),
        "--workers", str(workers),
        "--timeout", WORKER_TIMEOUT_SECONDS,
        "--access-logfile", "-",
        "--no-control-socket",
        *(["--preload"] if preloads(item["environment_variables"]) else []),
        "azureml_inference_server_http.server.entry:app",
    ]  # fmt: skip
    return processes.spawn(command, folder / LOG_FILE, cwd=code, env=env)
