import json

import numpy as np
import pandas as pd
import prep
import pytest
from contract import ColumnRoles

from tests import tabular
from tests.conftest import sample_frame

TARGET = "default_payment_next_month"
FEATURES = ("LIMIT_BAL", "AGE", "PAY_0")


def roles(**change) -> ColumnRoles:
    fields = {
        "target_column": TARGET,
        "positive_class": "1",
        "sensitive_column": "SEX",
        "features": FEATURES,
        **change,
    }
    return ColumnRoles(**fields)


def run_prepare(table, test_size=0.2, seed=7, **change):
    return prep.prepare(table, roles(**change), test_size=test_size, seed=seed)


def test_the_split_is_stratified_and_the_same_seed_gives_the_same_split():
    table = sample_frame(2000)
    train, test, summary = run_prepare(table, test_size=0.25)
    again_train, again_test, _ = run_prepare(table, test_size=0.25)
    pd.testing.assert_frame_equal(train, again_train)
    pd.testing.assert_frame_equal(test, again_test)
    assert len(test) == pytest.approx(0.25 * (len(train) + len(test)), abs=2)
    assert test[TARGET].mean() == pytest.approx(train[TARGET].mean(), abs=0.01)
    assert list(train.columns) == [*FEATURES, "SEX", TARGET]
    assert summary["rows_train"] == len(train)


def test_another_seed_gives_another_split():
    table = sample_frame(2000)
    _, test_a, _ = run_prepare(table, seed=1)
    _, test_b, _ = run_prepare(table, seed=2)
    assert not test_a.equals(test_b)


def test_duplicates_and_rows_without_a_label_are_dropped():
    table = sample_frame(100).drop_duplicates()
    unique_rows = len(table)
    table = pd.concat([table, table.head(10)]).astype({TARGET: "float64"})
    table.iloc[20, table.columns.get_loc(TARGET)] = None
    train, test, summary = run_prepare(table)
    assert summary["rows_dropped"] == 11
    assert len(train) + len(test) == unique_rows - 1


def test_rows_that_agree_only_on_the_chosen_columns_are_kept():
    table = sample_frame(100).drop_duplicates()
    twin = table.head(1).assign(BILL_AMT1=-1)  # same features, another record
    train, test, summary = run_prepare(pd.concat([table, twin]))
    assert summary["rows_dropped"] == 0
    assert len(train) + len(test) == len(table) + 1


@pytest.mark.parametrize(
    ("labels", "positive", "names"),
    [
        ({0: "paid", 1: "default"}, "default", ("paid", "default")),
        ({0: "N", 1: "Y"}, "Y", ("N", "Y")),
        ({0: False, 1: True}, "true", ("false", "true")),
        ({0: False, 1: True}, "True", ("false", "true")),
        ({0: 0.0, 1: 1.0}, "1", ("0", "1")),  # a label column read as float
    ],
)
def test_labels_of_any_kind_map_to_one_for_the_positive_class(labels, positive, names):
    table = sample_frame(200)
    expected = table.drop_duplicates()[TARGET].sum()
    table[TARGET] = table[TARGET].map(labels)
    train, test, summary = run_prepare(table, positive_class=positive)
    assert pd.concat([train, test])[TARGET].sum() == expected
    assert summary["labels"] == {"0": names[0], "1": names[1]}


def test_features_are_stored_by_kind_with_their_gaps():
    table = tabular.mixed(500)
    features = ("income", "age", "region_code", "education", "home_owner")
    train, test, summary = prep.prepare(
        table,
        roles(
            target_column="defaulted",
            positive_class="yes",
            sensitive_column="sex",
            features=features,
        ),
    )
    both = pd.concat([train, test])
    assert str(both["home_owner"].dtype) == "boolean"
    assert both["home_owner"].isna().any() and both["education"].isna().any()
    assert both["income"].isna().any()
    assert summary["gaps"] == ["income", "education", "home_owner"]
    assert both["education"].dropna().map(type).eq(str).all()
    assert str(both["age"].dtype) == "int64"


def test_without_a_sensitive_column_only_features_and_target_are_kept():
    table = tabular.numeric_only(300)
    train, _, _ = prep.prepare(
        table, roles(target_column="churned", sensitive_column=None, features=("x1", "x2"))
    )
    assert list(train.columns) == ["x1", "x2", "churned"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": ("NOPE",)}, "columns not in the data: 'NOPE'"),
        ({"positive_class": "2"}, "positive class '2' is not one of"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        run_prepare(sample_frame(100), **change)


def write_roles(path, **change):
    path.write_text(json.dumps(roles(**change).to_dict()))
    return path


def test_the_script_writes_both_splits_and_fails_cleanly_on_a_bad_column(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    sample_frame(300).to_csv(raw, index=False)
    outputs = ["--train-data", str(tmp_path / "train"), "--test-data", str(tmp_path / "test")]
    good = write_roles(tmp_path / "good.json")
    assert prep.main(["--raw-data", str(raw), "--columns", str(good), *outputs]) == 0
    assert len(pd.read_parquet(tmp_path / "test" / "data.parquet")) == pytest.approx(60, abs=1)
    seen = json.loads((tmp_path / "train" / "split.json").read_text())
    assert seen == {"labels": {"0": "0", "1": "1"}, "gaps": []}
    bad = write_roles(tmp_path / "bad.json", features=("AGE", "NOPE"))
    assert prep.main(["--raw-data", str(raw), "--columns", str(bad), *outputs]) == 2
    assert capsys.readouterr().err.strip() == f"error: {raw}: columns not in the data: 'NOPE'"


def test_a_malformed_roles_file_is_refused_naming_the_key(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    sample_frame(50).to_csv(raw, index=False)
    broken = tmp_path / "columns.json"
    broken.write_text(json.dumps({**roles().to_dict(), "features": "AGE,PAY_0"}))
    outputs = ["--train-data", str(tmp_path / "train"), "--test-data", str(tmp_path / "test")]
    assert prep.main(["--raw-data", str(raw), "--columns", str(broken), *outputs]) == 2
    assert "features must be a non-empty list of column names" in capsys.readouterr().err
    assert not (tmp_path / "train").exists()


def test_reading_in_parts_gives_what_one_whole_read_gives(tmp_path):
    table = tabular.mixed(60)
    table["code"] = [str(n) for n in range(59)] + ["x"]  # numbers, then text in the last part
    table["flag"] = [True] * 30 + [None] * 30  # true/false, then gaps only
    path = tmp_path / "raw.csv"
    table.to_csv(path, index=False)
    whole = pd.read_csv(path, low_memory=False)
    in_parts = prep.read_csv(path, rows=7)
    pd.testing.assert_frame_equal(in_parts, whole)
    assert in_parts["code"].iloc[0] == "0"


# -- multiclass-classification and regression ------------------------------------


def of_kind(kind: str, target: pd.Series, rows: int = 300) -> tuple[pd.DataFrame, ColumnRoles]:
    """A table of ``rows`` numeric rows with ``target`` as its label ``y``, and its roles."""
    table = tabular.numeric_only(rows).drop(columns="churned").assign(y=target.to_numpy())
    return table, ColumnRoles("y", None, None, ("x1", "x2", "x3"), kind)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (["a", "b"] * 150, "the target has 2 values: use kind binary-classification"),
        (["a"] * 300, "the target has 1 value: a multiclass-classification needs 3 to 100 "),
        (
            [float(n) for n in range(300)],
            "the target has 300 values: more than 100 classes; is it a number? use kind regression",
        ),
    ],
    ids=["two", "one", "a number"],
)
def test_a_multiclass_target_of_other_than_3_to_100_classes_is_refused(target, message):
    table, roles = of_kind("multiclass-classification", pd.Series(target))
    with pytest.raises(ValueError) as refused:
        prep.prepare(table, roles)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("target", "labels"),
    [
        ([10, 9, 100], ("9", "10", "100")),  # numbers in numeric order, not as text
        ([2.5, 10.0, 1.0], ("1.0", "2.5", "10.0")),
        (["setosa", "Virginica", "versicolor"], ("Virginica", "setosa", "versicolor")),
    ],
)
def test_multiclass_labels_are_coded_in_sorted_order_and_split_by_class(target, labels):
    sizes = dict(zip(target, (150, 100, 50), strict=True))  # unequal: a mix-up shows
    values = pd.Series([value for value, rows in sizes.items() for _ in range(rows)])
    table, roles = of_kind("multiclass-classification", values)
    train, test, summary = prep.prepare(table, roles, test_size=0.2, seed=1)
    assert summary["labels"] == {str(code): label for code, label in enumerate(labels)}
    named = {str(value): rows for value, rows in sizes.items()}  # each label's rows
    assert summary["class_rows"] == {label: named[label] for label in labels}
    assert "positive_rate" not in summary
    decoded = pd.concat([train, test])["y"].map(dict(enumerate(labels)))
    assert decoded.value_counts().to_dict() == named
    assert test["y"].map(dict(enumerate(labels))).value_counts().to_dict() == {
        label: rows // 5 for label, rows in named.items()
    }
    assert str(train["y"].dtype) == "int8"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            pd.Series(["1.5", "n/a", "2"] * 100),
            "target column 'y' holds text, not numbers (100 values, e.g. 'n/a'); fix those "
            "cells, or use kind multiclass-classification",
        ),
        (
            pd.Series([True, False, True] * 100),
            "target column 'y' holds true/false, not numbers; use kind binary-classification",
        ),
        (pd.Series([1.0, np.inf, 2.0] * 100), "target column 'y' has 100 infinite values"),
        (pd.Series([4.2] * 300), "target column 'y' has a single value"),
    ],
    ids=["text", "booleans", "infinite", "constant"],
)
def test_a_regression_target_that_is_not_varying_finite_numbers_is_refused(target, message):
    table, roles = of_kind("regression", target)
    with pytest.raises(ValueError) as refused:
        prep.prepare(table, roles)
    assert str(refused.value).startswith(message)


def test_a_regression_target_is_kept_as_float_and_split_at_random_by_seed():
    target = pd.Series(np.arange(1000) // 10)  # integers: kept as numbers, not classes
    table, roles = of_kind("regression", target, rows=1000)
    train, test, summary = prep.prepare(table, roles, test_size=0.25, seed=3)
    again, _, _ = prep.prepare(table, roles, test_size=0.25, seed=3)
    other, _, _ = prep.prepare(table, roles, test_size=0.25, seed=4)
    pd.testing.assert_frame_equal(train, again)
    assert not train.equals(other)
    assert (len(train), len(test)) == (750, 250)
    assert str(train["y"].dtype) == "float64"
    assert summary["labels"] == {}
    assert summary["target_mean"] == pytest.approx(target.mean())
    assert "positive_rate" not in summary and "class_rows" not in summary


def test_the_script_writes_no_class_labels_for_a_regression(tmp_path):
    raw = tmp_path / "raw.csv"
    table, roles = of_kind("regression", pd.Series(np.linspace(0, 1, 200)), rows=200)
    table.to_csv(raw, index=False)
    (tmp_path / "columns.json").write_text(json.dumps(roles.to_dict()))
    outputs = ["--train-data", str(tmp_path / "train"), "--test-data", str(tmp_path / "test")]
    arguments = ["--raw-data", str(raw), "--columns", str(tmp_path / "columns.json"), *outputs]
    assert prep.main(arguments) == 0
    assert json.loads((tmp_path / "train" / "split.json").read_text()) == {
        "labels": {},
        "gaps": ["x2"],
    }


def test_a_binary_summary_keeps_its_keys():
    _, _, summary = run_prepare(sample_frame(200))
    assert list(summary) == [
        "rows_in",
        "rows_dropped",
        "rows_train",
        "rows_test",
        "features",
        "labels",
        "gaps",
        "positive_rate",
    ]
