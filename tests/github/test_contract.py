"""The workflows and the command line agree: every `mlops` and `make` command a
step runs exists with those arguments, every variable a step reads is set or
documented, and the deploy path of train-deploy.yml and retrain.yml runs here,
step by step, with local environments standing in for dev, staging and prod."""

from __future__ import annotations

import re

import pytest
import yaml

from infra.stack_env import environment
from tests.conftest import free_port, make_project, stop_endpoints
from tests.github.local_runner import LocalRunner, runner_environ
from tests.github.workflows import (
    REPO,
    WORKFLOWS,
    command_problems,
    load,
    variable_problems,
    workflows,
)

STACK_OUTPUTS = {
    "ci_client_ids": {"infra": "i", "ml": "m", "preview": "p"},
    **dict.fromkeys(
        ["tenant_id", "subscription_id", "resource_group", "location", "workspace_name"], "x"
    ),
    "cpu_compute": "x",
    "registry_name": "x",
}


def documented() -> set[str]:
    readme = (REPO / "README.md").read_text()
    return set(environment(STACK_OUTPUTS)) | set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", readme))


def test_every_command_a_step_runs_exists_with_those_arguments():
    assert command_problems(workflows()) == []


def test_every_variable_a_step_reads_is_set_or_documented():
    assert variable_problems(workflows(), documented()) == []


@pytest.mark.parametrize(
    ("name", "old", "new", "named"),
    [
        ("train-promote.yml", "mlops promote", "mlops publish", "mlops publish"),
        ("train-promote.yml", "mlops run --new-data-only", "mlops run --only-new", "--only-new"),
        ("deploy-stage.yml", "--rollback", "--roll-back", "--roll-back"),
        ("ci.yml", "make infra-plan", "make infra-preview", "no make target 'infra-preview'"),
    ],
)
def test_a_verb_or_flag_the_command_line_does_not_have_fails_here(name, old, new, named):
    known = dict(workflows())
    text = (WORKFLOWS / name).read_text()
    assert old in text
    known[name] = load(WORKFLOWS / name, text.replace(old, new))
    problems = command_problems(known)
    assert any(named in p for p in problems), problems


def test_a_variable_nobody_sets_fails_here():
    known = dict(workflows())
    text = (WORKFLOWS / "deploy-stage.yml").read_text()
    known["deploy-stage.yml"] = load(
        WORKFLOWS / "deploy-stage.yml",
        text.replace('mlops deploy "$REGISTRY_MODEL" ||', 'mlops deploy "$MODEL_TO_DEPLOY" ||'),
    )
    problems = variable_problems(known, documented())
    assert any("$MODEL_TO_DEPLOY is never set" in p for p in problems), problems


ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture
def project(tmp_path):
    """A project whose local environments dev, staging and prod stand in for the
    workspaces; their endpoints are stopped afterwards."""
    root = make_project(tmp_path / "project")
    settings = yaml.safe_load((root / "mlops.yml").read_text())
    settings["environments"] = {name: {"endpoint_port": free_port()} for name in ENVIRONMENTS}
    (root / "mlops.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (root / ".venv").symlink_to(REPO / ".venv")
    yield root
    stop_endpoints(root)


def serving(root, env: str):
    from mlops.settings import load_settings
    from mlops.targets import get_target

    target = get_target(load_settings(root / "mlops.yml", env=env))
    return target.get_endpoint().serving()


def test_train_deploy_twice_then_retrain_run_here_step_by_step(project, tmp_path):
    (tmp_path / "runner").mkdir()
    runner = LocalRunner(
        project=project,
        environ=runner_environ(),
        workflows=workflows(),
        vars={},
        # The workflows say target: azure; here each GitHub environment is a local one.
        override=lambda env: {"MLOPS_TARGET": "local", "MLOPS_ENV": env},
        scratch=tmp_path / "runner",
    )
    every = workflows()

    jobs = runner.run_workflow(
        every["train-deploy.yml"], {"registry-model": "", "rollback-reason": ""}
    )

    shown = "\n".join(out for _, result in runner.log for _, _, out in result.steps)
    assert {name: r.result for name, r in jobs.items()} == dict.fromkeys(
        ("dev", "staging", "prod"), "success"
    ), shown
    promoted = jobs["dev"].outputs["registry-model"]
    assert promoted == "registry:credit-default-classifier:1"
    # The version promoted is named as a version, whatever the step passed for it.
    assert (
        "model credit-default-classifier:1 promoted as registry:credit-default-classifier:1"
        in shown
    )
    assert jobs["staging"].outputs["deployed"] == jobs["prod"].outputs["deployed"] == "true"
    # dev serves what it trained; staging and prod the very bytes promoted from it.
    digests = {env: serving(project, env).model_digest for env in ENVIRONMENTS}
    assert len(set(digests.values())) == 1 and None not in digests.values()
    summary = (tmp_path / "runner" / "summary.md").read_text()
    assert "PROMOTE" in summary and f"`{promoted}`" in summary
    # Each stage's summary shows its own gate: staging and prod against their champions.
    assert summary.count("gate: PROMOTE (against") == 2, summary

    # A second merge with nothing better: dev trains and rejects, the run stays green,
    # nothing is promoted and staging and prod are left as they are.
    runner.log.clear()
    jobs = runner.run_workflow(
        every["train-deploy.yml"], {"registry-model": "", "rollback-reason": ""}
    )

    shown = "\n".join(out for _, result in runner.log for _, _, out in result.steps)
    assert jobs["dev"].result == "success", shown
    assert "registered, not deployed: the gate rejected it" in shown
    assert jobs["dev"].outputs["registry-model"] == ""
    assert jobs["staging"].result == jobs["prod"].result == "skipped"
    assert "REJECT" in (tmp_path / "runner" / "summary.md").read_text()
    assert {serving(project, env).model_digest for env in ENVIRONMENTS} == set(digests.values())

    # The schedule finds the data the serving model was trained on: nothing to do.
    runner.log.clear()
    jobs = runner.run_workflow(every["retrain.yml"], {})

    shown = "\n".join(out for _, result in runner.log for _, _, out in result.steps)
    assert jobs["dev"].result == "success", shown
    assert "nothing to retrain" in shown
    assert jobs["dev"].outputs["registry-model"] == ""
    assert jobs["staging"].result == jobs["prod"].result == "skipped"
