"""The workflows are statically secure: zizmor's auditor persona finds nothing,
they are valid against GitHub's schemas, and the rules zizmor does not check
hold (each shown to fail on a broken copy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.github.workflows import (
    GITHUB,
    WORKFLOWS,
    composite_actions,
    load,
    security_problems,
    workflows,
)

BIN = Path(sys.executable).parent


def test_zizmor_in_its_auditor_persona_finds_nothing():
    done = subprocess.run(
        [
            BIN / "zizmor",
            "--persona=auditor",
            "--offline",
            "--collect=workflows,actions,dependabot",
            "--no-progress",
            str(GITHUB),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", sorted(WORKFLOWS.glob("*.yml"))),
        ("vendor.github-actions", sorted((GITHUB / "actions").glob("*/action.yml"))),
        ("vendor.dependabot", [GITHUB / "dependabot.yml"]),
    ],
)
def test_the_files_are_valid_against_githubs_schemas(schema, files):
    assert files
    done = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_zizmor_does_not_cover_hold():
    assert security_problems(workflows(), composite_actions()) == []


def test_every_workflow_this_repository_needs_is_there():
    assert {"ci.yml", "infra.yml", "train-deploy.yml", "retrain.yml"} <= set(workflows())
    for name in ("CODEOWNERS", "dependabot.yml"):
        assert (GITHUB / name).is_file()
    assert (GITHUB.parent / "SECURITY.md").is_file()


def broken(name: str, old: str, new: str) -> list[str]:
    """The problems found once ``old`` becomes ``new`` in workflow ``name``."""
    known = dict(workflows())
    path = WORKFLOWS / name
    text = path.read_text()
    assert old in text, f"{name} no longer holds {old!r}"
    known[name] = load(path, text.replace(old, new, 1))
    return security_problems(known, composite_actions())


@pytest.mark.parametrize(
    ("name", "old", "new", "named"),
    [
        (
            "deploy-stage.yml",
            "azure/login@a457da9ea143d694b1b9c7c869ebb04ebe844ef5 # v2.3.0",
            "azure/login@v2",
            "is not pinned to a full commit SHA",
        ),
        ("ci.yml", "pull_request:\n", "pull_request_target:\n", "triggered by pull_request_target"),
        ("ci.yml", "permissions:\n  contents: read\n", "permissions: write-all\n", "top-level"),
        (
            "deploy-stage.yml",
            "client-id: ${{ env.AZURE_CLIENT_ID }}",
            "client-id: ${{ env.AZURE_CLIENT_ID }}\n"
            "          client-secret: ${{ secrets.AZURE_SECRET }}",
            "reads secrets.AZURE_SECRET",
        ),
        (
            "deploy-stage.yml",
            "run: .venv/bin/mlops endpoint invoke",
            'run: .venv/bin/mlops deploy "${{ inputs.registry-model }}"',
            "holds `${{ ... }}`",
        ),
        (
            "train-promote.yml",
            "persist-credentials: false",
            "persist-credentials: true",
            "without persist-credentials: false",
        ),
        # One model's deploys queue per environment, in that model's group...
        (
            "train-promote.yml",
            "group: mlops-deploy-${{ inputs.model }}-dev",
            "group: mlops-deploy-dev",
            "outside the concurrency group mlops-deploy-<model>-<environment>",
        ),
        (
            "deploy-stage.yml",
            "group: mlops-deploy-${{ inputs.model }}-${{ inputs.environment }}",
            "group: mlops-deploy-${{ inputs.environment }}-${{ inputs.model }}",
            "outside the concurrency group mlops-deploy-<model>-<environment>",
        ),
        # ... named by the job's MLOPS_MODEL.
        (
            "deploy-stage.yml",
            "      MLOPS_MODEL: ${{ inputs.model }}\n",
            "",
            "deploys a model without naming it in the job's env: MLOPS_MODEL",
        ),
        # An infrastructure update holds the environment's own group.
        ("pulumi-stack.yml", "format('mlops-deploy-{0}'", "format('deploy-{0}'", "<environment>"),
        ("deploy-stage.yml", "cancel-in-progress: false", "cancel-in-progress: true", "cancel it"),
        ("train-promote.yml", "    environment: dev\n", "", "without an environment"),
        ("train-promote.yml", "    timeout-minutes: 120\n", "", "no timeout-minutes"),
        (
            "pulumi-stack.yml",
            "    shell: bash\n",
            "    shell: sh\n",
            "defaults.run.shell must be bash",
        ),
        (
            "ci.yml",
            "      id-token: write # sign in to Azure with OIDC as dev's ml identity\n",
            "",
            "id-token: write must be granted exactly",
        ),
        (
            "ci.yml",
            "models != '[]' && github.event.pull_request.head.repo.full_name == github.repository",
            "models != '[]'",
            "signs in on pull requests",
        ),
        # A call GitHub would refuse as the run starts.
        (
            "model-path.yml",
            "      model: ${{ inputs.model }}\n      environment: staging\n",
            "      environment: staging\n",
            "does not pass deploy-stage.yml's required input 'model'",
        ),
        (
            "retrain.yml",
            "      new-data-only: true\n",
            "      only-new-data: true\n",
            "passes input 'only-new-data', which model-path.yml does not declare",
        ),
        (
            "train-deploy.yml",
            "      actions: read # an override asks GitHub whether",
            "      # ",
            "model-path.yml's job staging asks for actions: read, which this job does not grant",
        ),
    ],
)
def test_a_workflow_breaking_a_rule_is_named(name, old, new, named):
    problems = broken(name, old, new)
    assert any(named in p for p in problems), problems
