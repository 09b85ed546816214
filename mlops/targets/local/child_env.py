"""The environment of every process the local target starts: steps, scoring servers, router.

They run code from the repository, not ``mlops`` itself, so they get an
allowlisted environment, never the caller's: a token or client secret
exported in the shell (``GITHUB_TOKEN``, ``AZURE_CLIENT_SECRET`` ...) must
not reach model code. What passes: the search path, the home and user, the
locale and time zone, the temporary folder and the thread-count knobs of the
numeric libraries; then the variables the step or deployment contract names,
given by the caller.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

PASSED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        # numeric libraries: how many threads the model code may use
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    }
)
PASSED_PREFIXES = ("LC_",)


def child_env(
    contract: Mapping[str, str] | None = None, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allowlisted part of ``parent`` (this process's environment by default),
    with this interpreter's folder first on PATH (so ``python`` has the model
    code's packages), unbuffered output, and then ``contract`` on top."""
    parent = os.environ if parent is None else parent
    env = {k: v for k, v in parent.items() if k in PASSED or k.startswith(PASSED_PREFIXES)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(contract or {})
    return env
