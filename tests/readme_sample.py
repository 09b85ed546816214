"""The README's sample output: what `make run` prints, taken from a real run.

Two blocks of README.md are the output of real runs: the first `mlops run` of
a fresh project (between the ``first-run`` markers) and the gate lines of
the second (``second-run``). ``python -m tests.readme_sample`` writes them
again from two runs on the sample data, in a scratch copy of the project (the
repository's own state folder and endpoint are left alone). The tests
compare the *shape* of those blocks (every line with its numbers, ids and
paths masked, see ``shape``) with what the test suite's own runs print, so
the README cannot drift from what the command says.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MLOPS = str(Path(sys.executable).parent / "mlops")
SHOWN_PORT = 5050  # the port of the settings as forked
BLOCKS = ("first-run", "second-run")
# The second run's lines the README shows: from the verdict to the model's fate.
SECOND_FROM, SECOND_TO = "gate: REJECT", "registered, not deployed"


def block(text: str, name: str) -> str:
    """The lines between ``<!-- name -->`` and ``<!-- /name -->`` in ``text``, without
    the code fence around them."""
    found = re.search(rf"<!-- {name} -->\n```\n(.*?)```\n<!-- /{name} -->", text, re.DOTALL)
    if found is None:
        raise LookupError(f"README.md has no {name} block")
    return found.group(1)


def second_run_lines(stdout: str) -> str:
    """What the README shows of a second run: the gate's verdict to the model's fate."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(SECOND_FROM))
    end = next(i for i, line in enumerate(lines) if SECOND_TO in line and i > start)
    return "\n".join(lines[start : end + 1]) + "\n"


MASKS = [
    (re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b"), "<run>"),  # run ids
    (re.compile(r"\b[0-9a-f]{12}\b"), "<version>"),  # data versions
    (re.compile(r"\S*/\S*"), "<path>"),  # paths and URLs
    (re.compile(r"[-+]?\d+(\.\d+)?"), "#"),  # numbers
    (re.compile(r"-{2,}"), "--"),  # table rules, as wide as the numbers
    (re.compile(r"[ \t]+"), " "),
]


def shape(text: str) -> list[str]:
    """``text``'s lines with ids, paths, numbers and column widths masked: two runs
    on other data or another machine have the same shape."""
    lines = []
    for line in text.splitlines():
        for pattern, mask in MASKS:
            line = pattern.sub(mask, line)
        lines.append(line.strip())
    return lines


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _project(root: Path) -> Path:
    for folder in ("pipelines", "environments", "data", "models"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    settings = yaml.safe_load((REPO / "mlops.yml").read_text())
    settings["local"]["endpoint_port"] = _free_port()
    (root / "mlops.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return root


def _run(project: Path) -> str:
    done = subprocess.run(
        [MLOPS, "--model", "credit-default", "run"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"mlops run failed:\n{done.stdout}{done.stderr}")
    port = yaml.safe_load((project / "mlops.yml").read_text())["local"]["endpoint_port"]
    # As a fork prints it: its own port, and its folder as the current one.
    return done.stdout.replace(f":{port}/", f":{SHOWN_PORT}/").replace(f"{project}/", "")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="readme-sample-") as scratch:
        project = _project(Path(scratch))
        try:
            first, second = _run(project), _run(project)
        finally:
            subprocess.run(
                [MLOPS, "--model", "credit-default", "endpoint", "stop"],
                cwd=project,
                capture_output=True,
            )
    text = README.read_text(encoding="utf-8")
    for name, output in zip(BLOCKS, (first.lstrip("\n"), second_run_lines(second)), strict=True):
        block(text, name)  # the markers must be there
        text = re.sub(
            rf"(<!-- {name} -->\n```\n).*?(```\n<!-- /{name} -->)",
            lambda found, output=output: found.group(1) + output + found.group(2),
            text,
            flags=re.DOTALL,
        )
    README.write_text(text, encoding="utf-8")
    print(f"README.md: {', '.join(BLOCKS)} written from two runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
