"""Who did it and why: what a deploy the gate alone would not allow records.

Three flags let a human decide past the gate, each with a reason that is
required and recorded on the deployed version's tags as ``<when> by <who>:
<reason>``: ``--rollback`` (return to a version that served before),
``--replace-task`` (a champion of another task, see ``mlops.task``) and
``--override-gate`` (replace the champion although the gate rejects the
candidate). The override is the strongest: inside a GitHub Actions job it is
refused unless the job's environment requires a reviewer
(``github.require_reviewers``), so a second person signs off on it there.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime

from mlops.errors import UserError
from mlops.targets.base import ROLLBACK_TAG
from mlops.task import REPLACED_TAG

OVERRIDE_TAG = "mlops.gate_override"
# Flag -> the tag its reason is recorded in.
FLAGS = {
    "--rollback": ROLLBACK_TAG,
    "--replace-task": REPLACED_TAG,
    "--override-gate": OVERRIDE_TAG,
}


class MissingReason(UserError):
    """A flag that decides past the gate was given without a reason."""


def require_reason(flag: str, reason: str | None) -> None:
    """Raise ``MissingReason`` when ``flag`` was given (``reason`` not None) empty."""
    if reason is not None and not reason.strip():
        raise MissingReason(f"{flag} needs a reason (in words), recorded on the version")


def actor(environ: Mapping[str, str] = os.environ) -> str:
    """Who runs this command: the GitHub user who started the workflow run (with
    the run's id), else the git user of this machine, else the login name."""
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_ACTOR"):
        run = environ.get("GITHUB_RUN_ID")
        return (
            f"{environ['GITHUB_ACTOR']} (GitHub Actions run {run})"
            if run
            else environ["GITHUB_ACTOR"]
        )
    try:
        done = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=10
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    except OSError:
        pass
    return getpass.getuser()


def record(reasons: Mapping[str, str], now: str | None = None) -> dict[str, str]:
    """The tags that record ``reasons`` (tag -> reason): ``<when> by <who>: <reason>``."""
    if not reasons:
        return {}  # an ordinary deploy: nobody to name (and no git process to start)
    now = now or datetime.now(UTC).isoformat(timespec="microseconds")
    who = actor()
    return {tag: f"{now} by {who}: {reason.strip()}" for tag, reason in reasons.items()}
