import json

import numpy as np
import pandas as pd
import pytest
from contract import (
    Column,
    ColumnRoles,
    describe_features,
    label_text,
    read_roles,
    roles_from_dict,
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
