"""A project whose model is served, shared by the fault tests of a module, and the
helpers they use: commands run as a user runs them, and what the endpoint serves.

The ``served`` fixture (``tests/mlops/conftest.py``) trains nothing: it copies the
session's trained project, registers its run as version 1 and deploys it; each
test starts from an endpoint that serves a champion and leaves one serving.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from mlops import lifecycle, promotion
from mlops.cli import main
from mlops.gate import decide
from mlops.settings import load_settings
from mlops.targets import get_target
from mlops.targets.local.endpoint import LocalEndpoint, processes
from tests.conftest import save_variant_run

MLOPS = str(Path(sys.executable).parent / "mlops")

MODEL = "credit-default-classifier"
ENDPOINT = "credit-default"


def cli(settings_file: Path, *args: str) -> tuple[int, str, str]:
    """Run `mlops ARGS` with ``settings_file``; the exit code, standard output and error."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--settings", str(settings_file), *args])
    return code, out.getvalue(), err.getvalue()


def mlops(root: Path, *args: str) -> tuple[int, str, str]:
    return cli(root / "mlops.yml", *args)


def console(root: Path, *args: str) -> tuple[int, str, str]:
    """Run the `mlops` console script in ``root``, in a process of its own."""
    done = subprocess.run(
        [MLOPS, *args], cwd=root, capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode, done.stdout, done.stderr


def one_line_error(err: str) -> str:
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err.strip()


def local(root: Path):
    settings = load_settings(root / "mlops.yml")
    return settings, get_target(settings)


def stop_everything(root: Path) -> None:
    """Stop every process of every endpoint under ``root``, whatever its state files say."""
    endpoints = root / ".mlops" / "endpoints"
    for folder in endpoints.glob("*/"):
        LocalEndpoint(endpoints, folder.name, 0).delete()
    processes.stop(str(endpoints) + "/", prefix=True, grace=2)


def endpoint_processes(root: Path) -> list[int]:
    return processes.find(str(root / ".mlops" / "endpoints" / ENDPOINT) + "/", prefix=True)


def score(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def sample(root: Path) -> bytes:
    """The scoring request of two test rows the last deploy wrote."""
    settings, _ = local(root)
    return lifecycle.sample_request(settings).read_bytes()


def assert_serves(root: Path, version: str) -> None:
    """The endpoint serves ``version`` with all its traffic, and a scoring request gets 200."""
    _, target = local(root)
    endpoint = target.get_endpoint()
    assert endpoint is not None
    assert endpoint.serving().model == f"{MODEL}:{version}"
    assert endpoint.traffic == {endpoint.serving().name: 100}
    status, answer = score(endpoint.scoring_uri, sample(root))
    assert status == 200, answer
    assert len(answer["probabilities"]) == 2


def serving_version(root: Path) -> str:
    _, target = local(root)
    return target.get_endpoint().serving().model.rpartition(":")[2]


def champion_alias(root: Path) -> str:
    """The version MLflow's registry names ``models:/<name>@champion``."""
    _, target = local(root)
    return str(target.registry.client.get_model_version_by_alias(MODEL, "champion").version)


def champion_auc(root: Path) -> float:
    _, target = local(root)
    return promotion.champion(target).metrics["auc"]


def register_variant(root: Path, source, name: str, auc: float, change=None):
    """Register in ``root``'s registry a copy of run ``source``'s model (changed by
    ``change``) as if a run had measured ``auc``; gated against the champion of the moment."""
    settings, target = local(root)
    variant = save_variant_run(target, settings, source, name, auc, change)
    decision = decide(variant.metrics, promotion.champion(target), settings.gate)
    return promotion.register(target, settings, variant, decision)


def cannot_be_loaded(model_dir: Path) -> None:
    (model_dir / "model.skops").write_bytes(b"not a model")
