"""A fork's own data, with only the model's mlops.yml edited: `mlops run` trains, gates,
deploys and serves it, and a request with gaps and an unseen category is scored."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests import tabular
from tests.conftest import STATE, make_project, model_file, stop_endpoints
from tests.e2e.test_run import in_process
from tests.tabular import AWKWARD

GATE = {
    "thresholds": [{"metric": "auc", "better": "higher", "min": 0.7}],
    "improvement": {"metric": "auc", "better": "higher", "min_delta": 0.001},
}


def own_project(root: Path, table, data: dict, gate: dict) -> Path:
    """The repository's project with ``table`` as its data and ``data``/``gate``
    merged into the model's mlops.yml: nothing else changes."""
    project = make_project(root)
    shutil.rmtree(project / "data")
    (project / "data").mkdir()
    table.to_csv(project / "data" / "own.csv", index=False)
    path = model_file(project)
    settings = yaml.safe_load(path.read_text())
    settings["data"] = {"asset_name": "own", "path": "../../data/own.csv", **data}
    settings["gate"] = gate
    path.write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True))
    return project


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A fork's own table (numbers, codes, text and true/false with gaps, a yes/no
    label, awkward column names, no group column), through one `mlops run`."""
    project = own_project(
        tmp_path_factory.mktemp("own"),
        tabular.awkward_mixed(3000),
        {"target_column": AWKWARD["defaulted"], "positive_class": "yes"},
        GATE,
    )
    try:
        yield project, in_process(project, "run")
    finally:
        stop_endpoints(project)


def invoke(project: Path, request: dict) -> dict:
    path = project / "request.json"
    path.write_text(json.dumps(request))
    result = in_process(project, "endpoint", "invoke", "--request-file", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


COLUMNS = [AWKWARD[c] for c in ("income", "age", "region_code", "education", "home_owner")]


def test_text_features_gaps_and_yes_no_labels_train_gate_and_deploy(own):
    project, run = own
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gate: PROMOTE" in run.stdout
    assert "deployed credit-default-classifier:1 to deployment blue" in run.stdout
    contract = next((project / ".mlops").rglob("data_contract.json"))
    assert json.loads(contract.read_text())["labels"] == {"0": "no", "1": "yes"}


def test_names_with_spaces_commas_quotes_and_non_ascii_letters_work_end_to_end(own):
    project, run = own
    roles = json.loads(next((project / STATE / "inputs").glob("columns-*.json")).read_text())
    assert roles["features"] == COLUMNS
    assert roles["target_column"] == AWKWARD["defaulted"]
    assert roles["sensitive_column"] is None
    assert "no sensitive column: fairness not measured" in run.stdout
    assert "demographic_parity_difference" not in run.stdout
    gate = json.loads(next((project / STATE / "reports").rglob("gate.json")).read_text())
    assert gate["notes"] == ["no sensitive column: fairness not measured"]
    row = dict(zip(COLUMNS, [52000.5, 61, 5, "graduate", True], strict=True))
    answer = invoke(project, {"input_data": [row]})
    assert len(answer["probabilities"]) == 1


def test_a_request_with_nulls_and_an_unseen_category_is_scored(own):
    project, _ = own
    answer = invoke(
        project,
        {
            "input_data": {
                "columns": COLUMNS,
                "data": [[None, 30, 2, "phd", None], [52000.5, 61, 5, None, True]],
            }
        },
    )
    assert len(answer["probabilities"]) == 2
    assert all(0 <= p <= 1 for p in answer["probabilities"])


def test_a_null_where_training_had_no_gaps_is_refused_naming_the_column(own):
    project, _ = own
    path = project / "bad.json"
    path.write_text(
        json.dumps({"input_data": {"columns": COLUMNS, "data": [[1.0, None, 2, "phd", True]]}})
    )
    result = in_process(project, "endpoint", "invoke", "--request-file", str(path))
    assert result.returncode != 0
    assert "the endpoint answered HTTP 400" in result.stderr
    message = json.loads(result.stdout)["message"]
    assert message.startswith(f"column {AWKWARD['age']}, row 0: missing value (null)")
