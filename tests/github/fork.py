"""A project as a fork runs its workflows here: local environments dev,
staging and prod standing in for the workspaces, the repository's `.venv`, and
a git history for the workflows to read."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from tests.conftest import REPO, free_port, model_file, reserve_port

ENVIRONMENTS = ("dev", "staging", "prod")


def git(root, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(root, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def free_base_port(offsets) -> int:
    """A free port that stays free plus each of ``offsets`` (every model's own)."""
    while True:
        base = free_port()
        try:
            for offset in offsets:
                if offset and not reserve_port(base + offset):
                    raise OSError(f"port {base + offset} is another test's")
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base


def as_fork(root: Path, models: Sequence[str], message: str) -> Path:
    """Give the project in ``root`` (holding ``models``) the environments, each on
    a base port that leaves every model's port free, the link to the
    repository's `.venv`, and a git repository of one commit, ``message``."""
    offsets = [
        yaml.safe_load(model_file(root, name).read_text())["endpoint"]["port_offset"]
        for name in models
    ]
    settings = yaml.safe_load((root / "mlops.yml").read_text())
    settings["environments"] = {
        name: {"endpoint_port": free_base_port(offsets)} for name in ENVIRONMENTS
    }
    (root / "mlops.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (root / ".venv").symlink_to(REPO / ".venv")
    # The repository's, and the link to its environment (`.venv/` takes folders only).
    ignored = (REPO / ".gitignore").read_text() + ".venv\n"
    (root / ".gitignore").write_text(ignored)
    git(root, "init", "-q", "-b", "main")
    commit(root, message)
    return root


def environments_runner(project: Path, scratch: Path):
    """A ``LocalRunner`` of the repository's workflows in ``project``, each GitHub
    environment one of its local environments (the workflows say target: azure)."""
    from tests.github.local_runner import LocalRunner, runner_environ
    from tests.github.workflows import workflows

    return LocalRunner(
        project=project,
        environ=runner_environ(),
        workflows=workflows(),
        vars={},
        override=lambda env: {"MLOPS_TARGET": "local", "MLOPS_ENV": env},
        scratch=scratch,
    )
