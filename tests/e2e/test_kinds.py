"""Models of the new kinds added to a fork the way the README says: `mlops new-model`,
then only the settings edited. A multiclass and a regression model each train, pass
their kind's gate, deploy beside the other, are gated against their own champion
and answer their own requests with their kind's answer."""

import json
import shutil

import pytest

from tests.conftest import REPO, make_project, model_file, stop_endpoints
from tests.e2e.test_run import in_process

# name -> (kind, data file of the repository, edits of the scaffolded settings file)
MODELS = {
    "wine": (
        "multiclass-classification",
        "wine/wine.csv",
        {"target_column: label": "target_column: cultivar"},
    ),
    "progress": (
        "regression",
        "diabetes/diabetes.csv",
        {
            "target_column: label": "target_column: progression",
            "sensitive_column: null": "sensitive_column: sex",
            # With the shared pipeline's trees, on 442 rows (sex not a feature).
            "{metric: r2, better: higher, min: 0.25}": "{metric: r2, better: higher, min: 0.2}",
            # The gap is in the label's units: a bound only the fork can set.
            "  fairness: []": "  fairness:\n    - {metric: mae_difference, better: lower, max: 15}",
        },
    ),
}


def add_model(project, name: str) -> str:
    """`mlops new-model`, then lines of its settings file edited: nothing else.
    Returns the file as the scaffold wrote it."""
    kind, data, edits = MODELS[name]
    shutil.copy(REPO / "data" / data, project / "data" / f"{name}.csv")
    made = in_process(project, "new-model", name, "--kind", kind)
    assert made.returncode == 0, made.stdout + made.stderr
    path = model_file(project, name)
    text = scaffold = path.read_text()
    edits = {f"path: ../../data/{name}/{name}.csv": f"path: ../../data/{name}.csv", **edits}
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return scaffold


def row(output: str, rule: str, metric: str) -> list[str]:
    """The gate table's row of ``rule`` on ``metric``."""
    return next(line.split() for line in output.splitlines() if line.split()[:2] == [rule, metric])


@pytest.fixture(scope="module")
def fork(tmp_path_factory):
    """A project with its sample model and the two new ones, each run once."""
    project = make_project(tmp_path_factory.mktemp("kinds"))
    try:
        runs, scaffolds = {}, {}
        for name in MODELS:
            scaffolds[name] = add_model(project, name)
            runs[name] = in_process(project, "--model", name, "run")
        yield project, runs, scaffolds
    finally:
        stop_endpoints(project)


def invoke(project, name: str) -> dict:
    answer = in_process(project, "--model", name, "endpoint", "invoke")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return json.loads(answer.stdout)


def test_the_scaffold_names_every_key_and_the_kinds_gate(fork):
    *_, scaffolds = fork
    text = scaffolds["progress"]
    assert text.startswith("# Model progress of the fork: a number to predict")
    assert "kind: regression" in text and "positive_class" not in text
    assert "- {metric: r2, better: higher, min: 0.25}" in text
    assert "port_offset: 20" in text  # 0 is the sample's, 10 the wine model's


def test_a_multiclass_model_trains_gates_deploys_and_answers_classes(fork):
    project, runs, _ = fork
    run = runs["wine"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gate: PROMOTE (against no champion" in run.stdout
    assert row(run.stdout, "threshold", "accuracy")[-1] == "pass"
    assert "deployed wine:1 to deployment blue" in run.stdout
    answer = invoke(project, "wine")
    classes = {"class_0", "class_1", "class_2"}
    assert set(answer["predictions"]) <= classes
    assert all(set(row) == classes for row in answer["probabilities"])
    report = next((project / ".mlops" / "models" / "wine" / "reports").glob("*/gate.md"))
    assert "![confusion matrix and recall per class](gate.png)" in report.read_text()


def test_a_regression_model_trains_gates_deploys_and_answers_numbers(fork):
    project, runs, _ = fork
    run = runs["progress"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gate: PROMOTE (against no champion" in run.stdout
    assert row(run.stdout, "fairness", "mae_difference")[-1] == "pass"
    answer = invoke(project, "progress")
    assert len(answer["predictions"]) == 2 and "probabilities" not in answer
    assert all(isinstance(value, float) for value in answer["predictions"])


@pytest.mark.parametrize(("name", "metric"), [("wine", "f1_macro"), ("progress", "rmse")])
def test_each_model_is_gated_against_its_own_champion(fork, name, metric):
    project, *_ = fork
    again = in_process(project, "--model", name, "gate", "latest")
    assert again.returncode == 3, again.stdout + again.stderr
    assert "gate: REJECT (against champion 1" in again.stdout
    assert row(again.stdout, "improvement", metric)[-1] == "FAIL"


def test_the_models_serve_side_by_side_each_on_its_own_endpoint(fork):
    project, *_ = fork
    listed = in_process(project, "models", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[2:]}
    assert rows["wine"][1:4] == ["multiclass-classification", "wine", "1"]
    assert rows["progress"][1:4] == ["regression", "progress", "1"]
    assert rows["credit-default"][3] == "-"  # the sample model was never run here
    shown = {
        name: in_process(project, "--model", name, "endpoint", "show").stdout for name in MODELS
    }
    urls = {
        name: next(w for w in text.split() if w.endswith("/score")) for name, text in shown.items()
    }
    assert len(set(urls.values())) == 2
