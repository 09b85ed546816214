"""Turn a stack's outputs into what `mlops` and the workflows read.

    pulumi stack output --json -s dev | .venv/bin/python infra/stack_env.py --job ml
    ... | .venv/bin/python infra/stack_env.py --job ml >> "$GITHUB_ENV"
    ... | .venv/bin/python infra/stack_env.py --ml-config .azureml/config.json

Prints ``NAME=value`` lines (the format of ``$GITHUB_ENV``; ``--export`` for
a shell): the variables ``azure/login`` takes (``AZURE_CLIENT_ID``,
``AZURE_TENANT_ID``, ``AZURE_SUBSCRIPTION_ID``, the client id being the CI
identity of ``--job``) and the workspace coordinates (``AZURE_RESOURCE_GROUP``,
``AZUREML_WORKSPACE_NAME``, ``AZUREML_COMPUTE``, ``AZURE_LOCATION``) and the
shared Azure ML registry (``AZUREML_REGISTRY_NAME``).
``--ml-config`` also writes the ``config.json`` that azure-ai-ml's
``MLClient.from_config`` and ``az ml`` read.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JOBS = ("infra", "ml", "preview")


class OutputsError(ValueError):
    """The stack outputs lack a value; the message names it."""


def _need(outputs: Mapping[str, Any], key: str) -> Any:
    value = outputs.get(key)
    if value in (None, ""):
        raise OutputsError(
            f"stack output {key!r} is missing: run `pulumi up` on the stack first, and pass "
            "`pulumi stack output --json`"
        )
    return value


def environment(outputs: Mapping[str, Any], job: str = "ml") -> dict[str, str]:
    """The environment variables for CI job ``job`` (infra, ml or preview)."""
    clients = _need(outputs, "ci_client_ids")
    if job not in clients:
        raise OutputsError(f"stack output 'ci_client_ids' has no identity for job {job!r}")
    return {
        "AZURE_CLIENT_ID": clients[job],
        "AZURE_TENANT_ID": _need(outputs, "tenant_id"),
        "AZURE_SUBSCRIPTION_ID": _need(outputs, "subscription_id"),
        "AZURE_RESOURCE_GROUP": _need(outputs, "resource_group"),
        "AZURE_LOCATION": _need(outputs, "location"),
        "AZUREML_WORKSPACE_NAME": _need(outputs, "workspace_name"),
        "AZUREML_COMPUTE": _need(outputs, "cpu_compute"),
        "AZUREML_REGISTRY_NAME": _need(outputs, "registry_name"),
    }


def ml_client_config(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The workspace's ``config.json``, as the Azure ML studio downloads it."""
    return {
        "subscription_id": _need(outputs, "subscription_id"),
        "resource_group": _need(outputs, "resource_group"),
        "workspace_name": _need(outputs, "workspace_name"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=JOBS, default="ml", help="whose client id to print")
    parser.add_argument("--export", action="store_true", help="print `export NAME=value` lines")
    parser.add_argument("--ml-config", type=Path, help="also write config.json here")
    parser.add_argument("--outputs", type=Path, help="read the outputs from this file, not stdin")
    args = parser.parse_args(argv)
    text = args.outputs.read_text() if args.outputs else sys.stdin.read()
    try:
        outputs = json.loads(text)
        if not isinstance(outputs, dict):
            raise ValueError
    except ValueError:
        print(
            "error: expected the JSON object `pulumi stack output --json` prints", file=sys.stderr
        )
        return 2
    try:
        variables = environment(outputs, args.job)
        config = ml_client_config(outputs)
    except OutputsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}" if args.export else f"{name}={value}")
    if args.ml_config:
        args.ml_config.parent.mkdir(parents=True, exist_ok=True)
        args.ml_config.write_text(json.dumps(config, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
