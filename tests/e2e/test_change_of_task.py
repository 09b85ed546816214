"""A fork's first change of task: the sample's credit-default model serves, then the
fork predicts `is_young` (AGE < 30) from the same file instead. The gate refuses to
compare the two, and refuses the leaky AGE feature; a new model (`mlops new-model`)
serves beside the old one; `--replace-task` replaces it, recorded."""

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlops.targets.local.tracking import tracking_uri
from mlops.task import REPLACED_TAG
from tests.conftest import STATE, copy_project, model_file, sample_frame, stop_endpoints
from tests.e2e.test_run import in_process

LABEL = "default_payment_next_month"


def young_fork(project: Path, model: str = "credit-default", **changes) -> None:
    """Edit model ``model`` as the fork did: its own file and label, `changes` merged."""
    table = sample_frame().assign(is_young=lambda t: (t.AGE < 30).map({True: "yes", False: "no"}))
    table.drop(columns=[LABEL]).to_csv(project / "data" / "young.csv", index=False)
    path = model_file(project, model)
    settings = yaml.safe_load(path.read_text())
    settings["data"].update(
        asset_name="young",
        path="../../data/young.csv",
        target_column="is_young",
        positive_class="yes",
    )
    # Without AGE the label is harder to tell: the fork's own floor.
    settings["gate"]["thresholds"] = [{"metric": "auc", "better": "higher", "min": 0.55}]
    settings["gate"].pop("fairness", None)
    for section, values in changes.items():
        settings[section] = {**settings[section], **values}
    path.write_text(yaml.safe_dump(settings, sort_keys=False))


@pytest.fixture(scope="module")
def fork(trained_template, tmp_path_factory):
    project = copy_project(trained_template, tmp_path_factory.mktemp("fork") / "project")
    try:
        champion = in_process(project, "run")
        assert champion.returncode == 0, champion.stdout + champion.stderr
        young_fork(project)
        yield project, in_process(project, "run")
    finally:
        stop_endpoints(project)


def test_the_changed_task_ends_at_the_gate_with_one_line_and_both_ways_out(fork):
    project, refused = fork
    assert refused.returncode == 3, refused.stdout + refused.stderr
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert line == (
        "error: the gate refuses credit-default-classifier:2: task changed: the candidate "
        f"predicts is_young = yes, champion 1 predicts {LABEL} = 1; to serve it beside the "
        "champion, make it a new model (`mlops new-model NAME --kind KIND --from` this one: "
        "its own folder, endpoint and registry name); to replace the champion's task, pass "
        "--replace-task REASON (recorded on the version)"
    )
    shown = in_process(project, "endpoint", "show")
    assert "credit-default-classifier:1" in shown.stdout


def test_the_leaking_feature_is_refused_by_default_and_named(fork):
    _, refused = fork
    assert "auc 1.0000 is too good to be true (gate.plausibility: < 0.995)" in refused.stdout
    assert "feature 'AGE' alone has auc 1.0000 on the test split" in refused.stdout


def test_a_new_model_serves_beside_the_old_one_and_replacing_the_task_is_recorded(fork):
    project, _ = fork
    without_age = {"features": {"include": [], "exclude": ["AGE"]}}
    made = in_process(
        project, "new-model", "young", "--kind", "binary-classification", "--from", "credit-default"
    )
    assert made.returncode == 0, made.stdout + made.stderr
    young_fork(project, "young", data=without_age)
    beside = in_process(project, "--model", "young", "run")
    assert beside.returncode == 0, beside.stdout + beside.stderr
    assert "gate: PROMOTE (against no champion: no version was ever deployed)" in beside.stdout
    assert "deployed young:1" in beside.stdout
    young = in_process(project, "--model", "young", "endpoint", "invoke")
    assert young.returncode == 0, young.stdout + young.stderr

    # The same task as `young` in the credit model: replace its task on purpose.
    young_fork(project, data=without_age)
    old = in_process(project, "--model", "credit-default", "endpoint", "show")
    assert "credit-default-classifier:1" in old.stdout, old.stdout + old.stderr
    replaced = in_process(
        project,
        "--model",
        "credit-default",
        "run",
        "--replace-task",
        "the product now predicts young applicants",
    )
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert "task of champion 1 replaced: the candidate predicts is_young = yes" in replaced.stdout
    assert "deployed credit-default-classifier:3 to deployment green, replacing" in replaced.stdout
    client = MlflowClient(tracking_uri(project / STATE))
    tags = client.get_model_version("credit-default-classifier", "3").tags
    assert tags[REPLACED_TAG].endswith(": the product now predicts young applicants")
    assert " by " in tags[REPLACED_TAG]
    alias = client.get_model_version_by_alias("credit-default-classifier", "champion")
    assert str(alias.version) == "3"
