"""What a GitHub Actions step hands on (step outputs, the job summary), and what
it asks GitHub (whether the job's environment requires a reviewer).

In a workflow step GitHub sets ``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY``
to files; the verbs append to them what a later step or the reader of the
run needs (the verdict, the versions, the gate report), so the workflows
never parse printed text. Outside a workflow both are unset and nothing is
written. Values are ids, versions and paths: never a credential.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from mlops.errors import UserError

OUTPUT = "GITHUB_OUTPUT"
SUMMARY = "GITHUB_STEP_SUMMARY"
# The job's GitHub environment: GitHub sets no variable for it, the workflow does.
ENVIRONMENT = "MLOPS_GITHUB_ENVIRONMENT"
API_VERSION = "2022-11-28"
TIMEOUT_SECONDS = 30


def in_workflow(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this runs inside a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def require_reviewers(flag: str, environ: Mapping[str, str] = os.environ) -> None:
    """Inside a GitHub Actions job, raise ``UserError`` unless the job's environment
    (``MLOPS_GITHUB_ENVIRONMENT``) has required reviewers, as GitHub's REST API
    reports them (``GET /repos/{repo}/environments/{name}``, with ``GITHUB_TOKEN``
    holding ``actions: read``). Outside a workflow there is nothing to ask: the
    person at the keyboard decides, and is recorded."""
    if not in_workflow(environ):
        return
    name, token = environ.get(ENVIRONMENT), environ.get("GITHUB_TOKEN")
    if not name:
        raise UserError(
            f"{flag} in a workflow needs {ENVIRONMENT} set to the job's environment, "
            "whose required reviewers sign off on it"
        )
    if not token:
        raise UserError(
            f"{flag} in a workflow needs GITHUB_TOKEN (permission actions: read) to check "
            f"that environment {name} requires a reviewer"
        )
    api = environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    url = f"{api}/repos/{environ.get('GITHUB_REPOSITORY', '')}/environments/{quote(name, safe='')}"
    request = urllib.request.Request(
        url,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": API_VERSION,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as error:
        raise UserError(
            f"{flag}: GitHub answered HTTP {error.code} for environment {name}; the job "
            "needs the permission actions: read and an environment of that name"
        ) from None
    except (OSError, ValueError) as error:
        raise UserError(f"{flag}: cannot ask GitHub about environment {name}: {error}") from None
    rules = body.get("protection_rules") if isinstance(body, dict) else None
    if not any(
        isinstance(rule, dict)
        and rule.get("type") == "required_reviewers"
        and rule.get("reviewers")
        for rule in rules or ()
    ):
        raise UserError(
            f"{flag} is refused in this workflow: GitHub environment {name} has no required "
            "reviewers, so nobody else signs off on it; add required reviewers to the "
            "environment (Settings > Environments)"
        )


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
