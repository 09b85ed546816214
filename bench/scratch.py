"""What the benchmarks share: a throw-away project, and the verdict on their aims.

``project(root)`` copies the repository's pipeline, environments, data and
settings, with the sample model (``models/credit-default``) as its one model,
into ``root``, with the state folder inside it and a free port,
so a benchmark's runs, models and endpoint never reach the user's own
``mlops runs`` history or endpoint. ``finish`` prints which aims were missed
and gives the exit status: 1 when one was, unless ``--report-only``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MLOPS = str(Path(sys.executable).parent / "mlops")
SAMPLE = "models/credit-default"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def project(root: Path, **settings_changes) -> Path:
    """A copy of the repository's project in ``root`` (see the module docstring),
    with ``settings_changes`` set in its ``mlops.yml``; returns ``root``."""
    for folder in ("pipelines", "environments", "data", SAMPLE):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    settings = yaml.safe_load((REPO / "mlops.yml").read_text())
    settings["state_dir"] = ".mlops"
    settings["local"]["endpoint_port"] = free_port()
    settings.update(settings_changes)
    (root / "mlops.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return root


def stop_endpoint(root: Path) -> None:
    subprocess.run([MLOPS, "endpoint", "stop"], cwd=root, capture_output=True, check=False)


def report_only_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="exit 0 even when an aim is missed (only report the numbers)",
    )


def finish(missed: list[str], report_only: bool) -> int:
    """Print the verdict; the exit status: 1 when an aim was ``missed``, unless ``report_only``."""
    if not missed:
        print("every aim met")
        return 0
    print(f"missed: {'; '.join(missed)}")
    return 0 if report_only else 1
