"""The workflows and the command line agree: every `mlops` and `make` command a
step runs exists with those arguments and names its model, every variable a
step reads is set or documented, and train-deploy.yml and retrain.yml run
here, step by step, for a fork of two models, with local environments
standing in for dev, staging and prod."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from infra.stack_env import environment
from tests.conftest import edit_model, make_project, model_file, stop_endpoints
from tests.github.fork import ENVIRONMENTS, as_fork, commit, environments_runner, git
from tests.github.local_runner import NO_COMMIT, LocalRunner, runner_environ
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
        # A command inside `$( ... )` is checked too.
        ("retrain.yml", "mlops models affected --all", "mlops models touched --all", "refuses"),
        (
            "train-deploy.yml",
            "GITHUB_OUTPUT='' .venv/bin/mlops models affected --all",
            "GITHUB_OUTPUT='' .venv/bin/mlops models affected --every",
            "--every",
        ),
        # With several models, one that names none is refused.
        ("train-promote.yml", "      MLOPS_MODEL: ${{ inputs.model }}\n", "", "names no model"),
        (
            "deploy-stage.yml",
            "      MLOPS_MODEL: ${{ inputs.model }}\n",
            "",
            "`.venv/bin/mlops endpoint invoke`: names no model",
        ),
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


FIRST, SECOND = "credit-default", "wine-cultivar"  # make_project's model, and one beside it
MODELS = (FIRST, SECOND)


@pytest.fixture
def project(tmp_path):
    """A fork of two models, the first's 3,000 rows of credit data and the
    repository's wine-cultivar beside it on the wine data (178 rows), in a git
    repository of one commit; its local environments dev, staging and prod
    stand in for the workspaces. The endpoints are stopped afterwards."""
    root = make_project(tmp_path / "project")
    # Six endpoints serve at once: one worker each, not two, on a 2-core machine.
    deployment = root / "pipelines" / "endpoints" / "deployment.yml"
    spec = yaml.safe_load(deployment.read_text())
    spec["environment_variables"]["WORKER_COUNT"] = "1"
    deployment.write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(REPO / "data" / "wine" / "wine.csv", root / "data" / "wine.csv")
    model_file(root, SECOND).parent.mkdir()
    shutil.copy(model_file(REPO, SECOND), model_file(root, SECOND))
    edit_model(root, SECOND, data={"path": "../../data/wine.csv"})
    as_fork(root, MODELS, "Two models")
    yield root
    stop_endpoints(root)


def target(root, env: str, model: str):
    from mlops.settings import load_settings
    from mlops.targets import get_target

    return get_target(load_settings(root / "mlops.yml", env=env, model=model))


def serving(root, env: str, model: str):
    endpoint = target(root, env, model).get_endpoint()
    return endpoint, endpoint.serving()


def printed(result) -> str:
    """What a job's steps printed."""
    return "\n".join(out for _, _, out in result.steps)


def output(runner) -> str:
    """What every job the runner ran printed."""
    return "\n".join(printed(result) for _, result in runner.log)


def test_a_push_deploys_the_models_it_touches_and_retrain_every_model_here_step_by_step(
    project, tmp_path
):
    runner = environments_runner(project, tmp_path / "runner")
    every = workflows()
    first = git(project, "rev-parse", "HEAD")

    # The branch's first push: no earlier commit to compare with, so every model
    # goes its own path, dev -> staging -> prod.
    jobs = runner.run_workflow(
        every["train-deploy.yml"], event="push", payload={"before": NO_COMMIT, "after": first}
    )

    shown = output(runner)
    assert json.loads(jobs["models"].outputs["models"]) == list(MODELS), shown
    assert "every model: no earlier commit" in jobs["models"].summary
    assert jobs["path"].result == "success", shown
    assert set(jobs["path"].legs) == set(MODELS)
    registered = {FIRST: "credit-default-classifier", SECOND: "wine-cultivar"}
    for model, path in jobs["path"].legs.items():
        assert {name: r.result for name, r in path.jobs.items()} == dict.fromkeys(
            ENVIRONMENTS, "success"
        ), shown
        promoted = f"registry:{registered[model]}:1"
        assert path.jobs["dev"].outputs["registry-model"] == promoted
        # Each job's summary names its model: dev's the version it promoted, each
        # later stage's its gate, against that environment's champion of the model.
        summary = path.jobs["dev"].jobs["dev"].summary
        assert summary.startswith(f"## {model} in dev") and f"`{promoted}`" in summary
        for env in ("staging", "prod"):
            assert path.jobs[env].outputs["deployed"] == "true"
            summary = path.jobs[env].jobs["deploy"].summary
            assert summary.startswith(f"## {model} in {env}"), summary
            assert summary.count("gate: PROMOTE (against") == 1, summary
    # The version promoted is named as a version, whatever the step passed for it.
    assert (
        "model credit-default-classifier:1 promoted as registry:credit-default-classifier:1"
        in shown
    )
    # Each model serves from its own endpoint in every environment: dev what it
    # trained, staging and prod the very bytes promoted from it.
    endpoints = {(m, env): serving(project, env, m) for m in MODELS for env in ENVIRONMENTS}
    assert len({endpoint.scoring_uri for endpoint, _ in endpoints.values()}) == 6
    digests = {}
    for model in MODELS:
        digests[model] = {endpoints[model, env][1].model_digest for env in ENVIRONMENTS}
        assert len(digests[model]) == 1 and None not in digests[model], model
        assert {endpoints[model, env][0].name for env in ENVIRONMENTS} == {model}
    assert digests[FIRST] != digests[SECOND]
    runs = {model: len(target(project, "dev", model).list_runs()) for model in MODELS}

    # A merge that changes only the second model's folder (a stricter gate) trains
    # that model alone: the first's jobs never run. Nothing better comes of it:
    # dev rejects, the run stays green, staging and prod are left as they are.
    gate = yaml.safe_load(model_file(project, SECOND).read_text())["gate"]
    accuracy = next(rule for rule in gate["thresholds"] if rule["metric"] == "accuracy")
    accuracy["min"] = 0.9
    edit_model(project, SECOND, gate=gate)
    second = commit(project, "wine-cultivar: a stricter accuracy bound")
    runner.log.clear()
    jobs = runner.run_workflow(
        every["train-deploy.yml"], event="push", payload={"before": first, "after": second}
    )

    shown = output(runner)
    assert json.loads(jobs["models"].outputs["models"]) == [SECOND], shown
    assert list(jobs["path"].legs) == [SECOND]
    assert not [where for where, _ in runner.log if FIRST in where]
    assert {m: len(target(project, "dev", m).list_runs()) for m in MODELS} == {
        FIRST: runs[FIRST],
        SECOND: runs[SECOND] + 1,
    }
    path = jobs["path"].legs[SECOND]
    assert jobs["path"].result == path.jobs["dev"].result == "success", shown
    assert "registered, not deployed: the gate rejected it" in shown
    assert path.jobs["dev"].outputs["registry-model"] == ""
    assert path.jobs["staging"].result == path.jobs["prod"].result == "skipped"
    assert "REJECT" in path.jobs["dev"].jobs["dev"].summary
    for model in MODELS:
        assert {serving(project, env, model)[1].model_digest for env in ENVIRONMENTS} == (
            digests[model]
        )

    # The schedule retrains every model, and finds each serving one trained on
    # the data its data.path holds: nothing to do, for either.
    runner.log.clear()
    jobs = runner.run_workflow(every["retrain.yml"], event="schedule")

    shown = output(runner)
    assert set(jobs["path"].legs) == set(MODELS), shown
    for model, path in jobs["path"].legs.items():
        assert path.jobs["dev"].result == "success", shown
        assert f"serving model {registered[model]}:1 was trained on: nothing to retrain" in (
            printed(path.jobs["dev"].jobs["dev"])
        )
        assert path.jobs["dev"].outputs["registry-model"] == ""
        assert path.jobs["staging"].result == path.jobs["prod"].result == "skipped"

    # By hand, a model that is not there, or a registry version without the model
    # it belongs to, stops the run before any model's path.
    for inputs, named in [
        ({"model": "credit-defualt"}, f"none of the models under models/: {FIRST}, {SECOND}"),
        ({"registry-model": "registry:wine-cultivar:1"}, "name that model in the input model"),
    ]:
        runner.log.clear()
        jobs = runner.run_workflow(every["train-deploy.yml"], inputs)

        assert jobs["models"].result == "failure" and jobs["path"].result == "skipped"
        assert named in output(runner)


def test_the_pull_request_comment_has_a_section_per_model_it_touches(tmp_path):
    """ci.yml's comment job, after stand-ins for the jobs it needs: two models
    touched, the second's training run failed before its gate report."""
    comment = dict(workflows()["ci.yml"].jobs["comment"])
    # What download-artifact puts in place: the first model's gate report.
    download = {
        "run": 'mkdir -p "$RUNNER_TEMP/reports/gate-a-model" && '
        'echo "gate: PROMOTE" > "$RUNNER_TEMP/reports/gate-a-model/gate.md"'
    }
    comment["steps"] = [download, *comment["steps"][1:]]
    stand_in = {"runs-on": "ubuntu-24.04", "steps": [{"run": "true"}]}
    jobs = {
        "azure": {**stand_in, "outputs": {"enabled": "true"}},
        "preview": stand_in,
        "models": {**stand_in, "outputs": {"models": '["a-model", "b-model"]'}},
        "train": {**stand_in, "steps": [{"run": "false"}]},
        "comment": comment,
    }
    text = yaml.safe_dump({"on": "pull_request", "jobs": jobs})
    # gh, asked for the existing comments, finds none; posting, it keeps the body.
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    posted = tmp_path / "posted.md"
    (bin_folder / "gh").write_text(
        f'#!/bin/bash\nfor a in "$@"; do [[ $a != body=@* ]] || cp "${{a#body=@}}" {posted}; done\n'
    )
    (bin_folder / "gh").chmod(0o755)
    known = {"comment.yml": load(tmp_path / "comment.yml", text)}
    environ = {**runner_environ(), "PATH": f"{bin_folder}:{runner_environ()['PATH']}"}
    runner = LocalRunner(tmp_path, environ, known, {}, lambda env: {}, tmp_path / "runner")

    done = runner.run_workflow(
        known["comment.yml"], event="pull_request", payload={"pull_request": {"number": 7}}
    )

    assert done["comment"].result == "success", output(runner)
    body = posted.read_text()
    assert body.startswith("<!-- mlops-pull-request-report -->")
    assert "training runs on dev: failure" in body
    first, second = body.index("### a-model"), body.index("### b-model")
    assert first < body.index("gate: PROMOTE") < second
    assert "No gate report: the training run of b-model did not get that far" in body[second:]
    assert done["comment"].summary == body
