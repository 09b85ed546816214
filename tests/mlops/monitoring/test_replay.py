"""Shifts of ``mlops endpoint replay``: how they are written and what they do to a column."""

import pandas as pd
import pytest

from mlops.errors import UserError
from mlops.monitoring.replay import Shift


@pytest.mark.parametrize(
    ("text", "column", "op", "value"),
    [
        ("LIMIT_BAL*3", "LIMIT_BAL", "*", "3"),
        ("AGE+15", "AGE", "+", "15"),
        ("AGE-2.5", "AGE", "-", "2.5"),
        ("pay-0*2", "pay-0", "*", "2"),  # a column name may hold an operator
        ("EDUCATION=4", "EDUCATION", "=", "4"),
        ("X=-1", "X", "=", "-1"),
    ],
)
def test_a_shift_is_read_as_column_operator_value(text, column, op, value):
    assert Shift.parse(text) == Shift(column, op, value)


def test_numbers_are_shifted_keeping_whole_numbers_whole_and_a_value_replaces_any_column():
    ages = pd.Series([20, 31, 45])
    assert Shift.parse("AGE*1.5").apply(ages).tolist() == [30, 46, 68]
    assert Shift.parse("AGE*1.5").apply(ages).dtype == ages.dtype
    assert Shift.parse("AGE-5").apply(ages.astype(float)).tolist() == [15.0, 26.0, 40.0]
    assert Shift.parse("CITY=Oslo").apply(pd.Series(["a", "b"])).tolist() == ["Oslo", "Oslo"]
    assert Shift.parse("AGE=40").apply(ages).tolist() == [40.0, 40.0, 40.0]


@pytest.mark.parametrize(
    ("text", "column", "said"),
    [
        ("CITY*2", pd.Series(["a"]), "CITY holds no numbers; set a value instead (CITY=VALUE)"),
        ("AGE+old", pd.Series([1]), "'old' is not a number"),
    ],
)
def test_a_shift_that_cannot_apply_names_itself(text, column, said):
    with pytest.raises(UserError) as refused:
        Shift.parse(text).apply(column)
    assert str(refused.value).startswith(f"--shift {text}: ") and said in str(refused.value)


@pytest.mark.parametrize("text", ["AGE", "AGE*", "*3"])
def test_a_shift_written_otherwise_is_refused_with_the_forms(text):
    with pytest.raises(UserError, match="write COLUMN\\*NUMBER"):
        Shift.parse(text)
