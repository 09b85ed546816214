"""What a GitHub Actions step hands on: step outputs and the job summary.

In a workflow step GitHub sets ``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY``
to files; the verbs append to them what a later step or the reader of the
run needs (the verdict, the versions, the gate report), so the workflows
never parse printed text. Outside a workflow both are unset and nothing is
written. Values are ids, versions and paths: never a credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

OUTPUT = "GITHUB_OUTPUT"
SUMMARY = "GITHUB_STEP_SUMMARY"


def set_outputs(values: Mapping[str, object], environ: Mapping[str, str] = os.environ) -> None:
    """Append ``name=value`` lines for the step's outputs (one line each; a value
    holding a line break is cut there, as no output here needs two lines)."""
    path = environ.get(OUTPUT)
    if not path:
        return
    lines = [
        f"{name}={str(value).splitlines()[0] if value else ''}\n" for name, value in values.items()
    ]
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.writelines(lines)


def add_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> None:
    """Append ``markdown`` to the job summary."""
    path = environ.get(SUMMARY)
    if not path:
        return
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(markdown.rstrip("\n") + "\n\n")
