import pandas as pd
import prep
import pytest

from tests.conftest import sample_frame

TARGET = "default_payment_next_month"
FEATURES = ["LIMIT_BAL", "AGE", "PAY_0"]


def run_prepare(table, **overrides):
    options = {"target": TARGET, "sensitive": "SEX", "features": FEATURES, "seed": 7}
    return prep.prepare(table, **{**options, **overrides})


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


def test_a_text_target_is_mapped_to_one_for_the_positive_class():
    table = sample_frame(200)
    expected = table.drop_duplicates()[TARGET].sum()
    table[TARGET] = table[TARGET].map({0: "paid", 1: "default"})
    train, test, _ = run_prepare(table, positive_class="default")
    assert pd.concat([train, test])[TARGET].sum() == expected


def test_a_label_column_read_as_float_matches_an_integer_positive_class():
    table = sample_frame(200).astype({TARGET: "float64"})
    train, test, _ = run_prepare(table, positive_class="1")
    assert set(pd.concat([train, test])[TARGET]) == {0, 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": ["NOPE"]}, "columns not in the data: NOPE"),
        ({"positive_class": "2"}, "positive class '2' is not one of"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_problem(change, message):
    with pytest.raises(ValueError, match=message):
        run_prepare(sample_frame(100), **change)


def test_the_script_writes_both_splits_and_fails_cleanly_on_a_bad_column(tmp_path, capsys):
    raw = tmp_path / "raw.csv"
    sample_frame(300).to_csv(raw, index=False)
    args = ["--raw-data", str(raw), "--target-column", TARGET, "--sensitive-column", "SEX"]
    outputs = ["--train-data", str(tmp_path / "train"), "--test-data", str(tmp_path / "test")]
    assert prep.main([*args, "--features", ",".join(FEATURES), *outputs]) == 0
    assert len(pd.read_parquet(tmp_path / "test" / "data.parquet")) == pytest.approx(60, abs=1)
    assert prep.main([*args, "--features", "AGE,NOPE", *outputs]) == 2
    assert capsys.readouterr().err.strip() == f"error: {raw}: columns not in the data: NOPE"
