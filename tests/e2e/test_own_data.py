"""A fork's own data, with only mlops.yml edited: `mlops run` trains, gates,
deploys and serves it, and a request with gaps and an unseen category is scored."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests import tabular
from tests.conftest import make_project, stop_endpoints
from tests.e2e.test_run import mlops

GATE = {
    "thresholds": [{"metric": "auc", "better": "higher", "min": 0.7}],
    "improvement": {"metric": "auc", "better": "higher", "min_delta": 0.001},
}


def own_project(root: Path, table, data: dict, gate: dict) -> Path:
    """The repository's project with ``table`` as its data and ``data``/``gate``
    merged into mlops.yml: nothing else changes."""
    project = make_project(root)
    shutil.rmtree(project / "data")
    (project / "data").mkdir()
    table.to_csv(project / "data" / "own.csv", index=False)
    path = project / "mlops.yml"
    settings = yaml.safe_load(path.read_text())
    settings["data"] = {"asset_name": "own", "path": "data/own.csv", **data}
    settings["gate"] = gate
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True))
    return project


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    project = own_project(
        tmp_path_factory.mktemp("mixed"),
        tabular.mixed(3000),
        {"target_column": "defaulted", "positive_class": "yes", "sensitive_column": "sex"},
        {
            **GATE,
            "fairness": [
                {"metric": "demographic_parity_difference", "better": "lower", "max": 0.2}
            ],
        },
    )
    try:
        yield project, mlops(project, "run")
    finally:
        stop_endpoints(project)


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    project = own_project(
        tmp_path_factory.mktemp("awkward"),
        tabular.awkward_names(3000),
        {"target_column": tabular.AWKWARD["churned"]},
        GATE,
    )
    try:
        yield project, mlops(project, "run")
    finally:
        stop_endpoints(project)


def invoke(project: Path, request: dict) -> dict:
    path = project / "request.json"
    path.write_text(json.dumps(request))
    result = mlops(project, "endpoint", "invoke", "--request-file", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_text_features_gaps_and_yes_no_labels_train_gate_and_deploy(mixed):
    project, run = mixed
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gate: PROMOTE" in run.stdout
    assert "deployed credit-default-classifier:1 to deployment blue" in run.stdout
    contract = next((project / ".mlops").rglob("data_contract.json"))
    assert json.loads(contract.read_text())["labels"] == {"0": "no", "1": "yes"}


def test_a_request_with_nulls_and_an_unseen_category_is_scored(mixed):
    project, _ = mixed
    columns = ["income", "age", "region_code", "education", "home_owner"]
    answer = invoke(
        project,
        {
            "input_data": {
                "columns": columns,
                "data": [[None, 30, 2, "phd", None], [52000.5, 61, 5, None, True]],
            }
        },
    )
    assert len(answer["probabilities"]) == 2
    assert all(0 <= p <= 1 for p in answer["probabilities"])


def test_a_null_where_training_had_no_gaps_is_refused_naming_the_column(mixed):
    project, _ = mixed
    path = project / "bad.json"
    columns = ["income", "age", "region_code", "education", "home_owner"]
    path.write_text(
        json.dumps({"input_data": {"columns": columns, "data": [[1.0, None, 2, "phd", True]]}})
    )
    result = mlops(project, "endpoint", "invoke", "--request-file", str(path))
    assert result.returncode != 0
    assert "column age, row 0: missing value (null)" in result.stdout + result.stderr


def test_names_with_spaces_commas_quotes_and_non_ascii_letters_work_end_to_end(awkward):
    project, run = awkward
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no sensitive column: fairness not measured" in run.stdout
    assert "demographic_parity_difference" not in run.stdout
    roles = json.loads(next((project / ".mlops" / "inputs").glob("columns-*.json")).read_text())
    assert roles["features"] == [tabular.AWKWARD[c] for c in ("x1", "x2", "x3")]
    assert roles["sensitive_column"] is None
    features = roles["features"]
    answer = invoke(project, {"input_data": [dict(zip(features, [0.5, None, -1.0], strict=True))]})
    assert len(answer["probabilities"]) == 1
    gate = json.loads(next((project / ".mlops" / "reports").rglob("gate.json")).read_text())
    assert gate["notes"] == ["no sensitive column: fairness not measured"]
