import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from contract import (
    Column,
    ColumnRoles,
    describe_features,
    label_text,
    load_contract,
    read_roles,
    roles_from_dict,
    save_contract,
)

from mlops.table_stats import ColumnStats

ROLES = {"target_column": "y", "positive_class": "1", "sensitive_column": None, "features": ["a"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": "a,b"}, "features must be a non-empty list"),
        ({"features": []}, "features must be a non-empty list"),
        ({"features": ["a", "a"]}, "more than once"),
        ({"features": ["a", "y"]}, "features names y"),
        ({"sensitive_column": ""}, "sensitive_column must be a column name or null"),
        ({"positive_class": 1}, "positive_class must be a non-empty string"),
        ({"extra": 1}, "unknown keys: extra"),
    ],
)
def test_malformed_roles_are_refused_naming_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        roles_from_dict({**ROLES, **change}, "columns.json")


def test_any_column_name_survives_the_roles_file(tmp_path):
    names = ["monthly income ($)", "city, region", 'say "hi"', "größe", "2nd", "${{inputs.x}}"]
    path = tmp_path / "columns.json"
    path.write_text(json.dumps({**ROLES, "features": names}, ensure_ascii=False))
    assert read_roles(path).features == tuple(names)


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([True, False, True]),
        pd.Series([True, False, None], dtype=object).dropna(),
        pd.Series([1.0, 0.0, 1.0]),
        pd.Series([1, 0, 1]),
        pd.Series(["yes", "no", "yes"]),
        pd.Series(["Y", "N", "N"]),
        pd.Series(["default", "paid", "paid"]),
    ],
)
def test_registration_reads_labels_as_the_prep_step_does(values):
    stats = ColumnStats(every_type=True)  # as registration counts a target column
    stats.add(values)
    assert label_text(values).tolist() == values.map(stats.texts()).tolist()


def test_the_model_frame_holds_floats_and_text_with_gaps_as_nan():
    table = pd.DataFrame(
        {
            "n": pd.Series([1, 2, 3]),
            "b": pd.array([True, None, False], dtype="boolean"),
            "t": pd.Series(["x", None, "z"], dtype=object),
        }
    )
    contract = describe_features(table, ColumnRoles("y", "1", None, ("n", "b", "t")), ("0", "1"))
    assert contract.columns == (
        Column("n", "long", False),
        Column("b", "boolean", True),
        Column("t", "string", True),
    )
    frame = contract.model_frame(table)
    assert [str(t) for t in frame.dtypes] == ["float64", "float64", "object"]
    assert np.isnan(frame["b"][1]) and frame["t"].isna().tolist() == [False, True, False]
    assert contract.categories == {"t": ["x", "z"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "ranking"}, "kind must be one of binary-classification, multiclass-"),
        ({"positive_class": None}, "positive_class must be a non-empty string for kind binary"),
        (
            {"kind": "regression", "positive_class": "1"},
            "positive_class must be null for kind regression",
        ),
        (
            {"kind": "multiclass-classification", "positive_class": "a"},
            "positive_class must be null for kind multiclass-classification",
        ),
    ],
)
def test_a_kind_and_its_positive_class_are_checked_together(change, message):
    with pytest.raises(ValueError, match=message):
        roles_from_dict({**ROLES, **change}, "columns.json")


def test_a_roles_file_without_a_kind_is_a_binary_classifier_and_the_kind_is_written():
    roles = roles_from_dict(ROLES, "columns.json")
    assert roles.kind == "binary-classification"
    regression = {**ROLES, "kind": "regression", "positive_class": None}
    assert roles_from_dict(regression, "columns.json").to_dict() == {
        **regression,
        "features": ["a"],
    }


def model_folder(tmp_path, contract_file: dict | None) -> Path:
    """A model folder whose MLmodel signature takes column ``a`` and whose
    data_contract.json is ``contract_file`` (none if None)."""
    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    Model(signature=ModelSignature(inputs=Schema([ColSpec("double", "a")]))).save(
        str(tmp_path / "MLmodel")
    )
    if contract_file is not None:
        (tmp_path / "data_contract.json").write_text(json.dumps(contract_file))
    return tmp_path


def test_a_contract_written_before_kinds_reads_as_a_binary_classifier(tmp_path):
    before = {"format": 1, **ROLES, "labels": {"0": "paid", "1": "default"}, "categories": {}}
    contract = load_contract(model_folder(tmp_path, before))
    assert contract.kind == "binary-classification"
    assert contract.labels == ("paid", "default")


@pytest.mark.parametrize(
    ("kind", "labels"),
    [
        ("binary-classification", ("no", "yes")),
        ("multiclass-classification", ("low", "mid", "high")),
        ("regression", ()),
    ],
)
def test_each_kind_saves_its_class_labels_in_code_order(tmp_path, kind, labels):
    raw = {**ROLES, "kind": kind, "positive_class": "yes" if labels == ("no", "yes") else None}
    roles = roles_from_dict(raw, "columns.json")
    saved = describe_features(pd.DataFrame({"a": [1.0, 2.0]}), roles, labels)
    save_contract(model_folder(tmp_path, None), saved)
    written = json.loads((tmp_path / "data_contract.json").read_text())
    assert (written["format"], written["kind"]) == (2, kind)
    assert written["labels"] == {str(code): label for code, label in enumerate(labels)}
    loaded = load_contract(tmp_path)
    assert (loaded.kind, loaded.labels, loaded.roles) == (kind, labels, roles)


def test_class_labels_out_of_code_order_are_refused_naming_the_file(tmp_path):
    broken = {"format": 2, "kind": "binary-classification", **ROLES, "labels": {"1": "x"}}
    with pytest.raises(ValueError, match='data_contract.json: labels must map the class codes "0"'):
        load_contract(model_folder(tmp_path, broken))
