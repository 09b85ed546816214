import subprocess
import sys

import contract
import numpy as np
import pandas as pd
import prep
import pytest

from mlops import table_stats
from mlops.data_checks import DataError, check_table, feature_columns, min_rows_per_class
from mlops.settings import load_settings
from tests.conftest import REPO, sample_frame

TARGET = "default_payment_next_month"


@pytest.fixture
def data_settings():
    return load_settings(REPO / "mlops.yml", model="credit-default").data


def write(tmp_path, table, name="data.csv"):
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def with_class_rows(negatives, positives=30):
    """Sample rows with ``negatives`` rows of class 0 and ``positives`` of class 1."""
    table = sample_frame(500)
    return pd.concat(
        [table[table[TARGET] == 0].head(negatives), table[table[TARGET] == 1].head(positives)]
    )


def test_the_sample_data_passes_and_is_profiled(tmp_path, data_settings):
    profile = check_table(write(tmp_path, sample_frame(500)), data_settings)
    assert profile.rows == 500
    assert "SEX" not in profile.features
    assert TARGET not in profile.features
    assert len(profile.features) == 22
    assert 0.1 < profile.positive_rate < 0.4
    assert profile.classes == ("0", "1")


def test_the_classes_are_the_target_values_as_text_sorted(tmp_path, data_settings):
    table = sample_frame(50)
    table[TARGET] = table[TARGET].map({0: "no", 1: "yes"})
    settings = data_settings.model_copy(update={"positive_class": "yes"})
    assert check_table(write(tmp_path, table), settings).classes == ("no", "yes")


def test_whole_float_classes_read_as_integers(tmp_path, data_settings):
    table = sample_frame(50).astype({TARGET: "float64"})
    assert check_table(write(tmp_path, table), data_settings).classes == ("0", "1")


def test_the_shipped_file_with_its_own_line_endings_passes(data_settings):
    assert check_table(REPO / "data/credit-default/credit_default.csv", data_settings).rows == 30000


def test_features_follow_include_and_exclude_in_file_order(data_settings):
    columns = ["b", "a", "SEX", TARGET, "c"]
    assert feature_columns(columns, data_settings) == ("b", "a", "c")
    features = data_settings.features
    narrowed = data_settings.model_copy(
        update={"features": features.model_copy(update={"include": ("c", "b")})}
    )
    assert feature_columns(columns, narrowed) == ("b", "c")
    dropped = data_settings.model_copy(
        update={"features": features.model_copy(update={"exclude": ("a",)})}
    )
    assert feature_columns(columns, dropped) == ("b", "c")


def test_a_missing_target_column_is_named_with_its_key(tmp_path, data_settings):
    table = sample_frame(50).drop(columns=[TARGET])
    with pytest.raises(DataError, match=rf"'{TARGET}' named by data.target_column is not in"):
        check_table(write(tmp_path, table), data_settings)


def test_a_missing_included_feature_is_named_with_its_key(tmp_path, data_settings):
    settings = data_settings.model_copy(
        update={"features": data_settings.features.model_copy(update={"include": ("INCOME",)})}
    )
    with pytest.raises(DataError, match="'INCOME' named by data.features.include"):
        check_table(write(tmp_path, sample_frame(50)), settings)


def test_a_target_with_three_values_is_refused(tmp_path, data_settings):
    table = sample_frame(50)
    table.loc[0, TARGET] = 2
    with pytest.raises(DataError, match="must have exactly two values, found 3"):
        check_table(write(tmp_path, table), data_settings)


def test_a_positive_class_not_in_the_data_is_refused(tmp_path, data_settings):
    settings = data_settings.model_copy(update={"positive_class": "yes"})
    with pytest.raises(DataError, match="data.positive_class 'yes' is not a value"):
        check_table(write(tmp_path, sample_frame(50)), settings)


def test_a_text_target_with_a_named_positive_class_passes(tmp_path, data_settings):
    table = sample_frame(50)
    table[TARGET] = table[TARGET].map({0: "no", 1: "yes"})
    settings = data_settings.model_copy(update={"positive_class": "yes"})
    assert check_table(write(tmp_path, table), settings).rows == 50


def test_a_target_with_empty_values_is_refused(tmp_path, data_settings):
    table = sample_frame(50).astype({TARGET: "float64"})
    table.loc[3, TARGET] = None
    with pytest.raises(DataError, match="has 1 empty values; every row needs a label"):
        check_table(write(tmp_path, table), data_settings)


def test_a_header_naming_a_column_twice_is_refused(tmp_path, data_settings):
    # pandas would read the second one as "AGE.1", a feature of its own.
    table = sample_frame(50).rename(columns={"PAY_2": "AGE"})
    with pytest.raises(DataError, match=r"data.csv: the header repeats column 'AGE' \(2 times\)"):
        check_table(write(tmp_path, table), data_settings)


def test_a_repeated_target_column_is_named(tmp_path, data_settings):
    table = sample_frame(50)
    table = table.assign(copy=table[TARGET]).rename(columns={"copy": TARGET})
    with pytest.raises(DataError, match=rf"repeats column '{TARGET}' \(2 times\); rename or"):
        check_table(write(tmp_path, table), data_settings)


def test_infinite_numbers_in_a_feature_are_counted_in_every_spelling(tmp_path, data_settings):
    table = sample_frame(50).astype({"AGE": object})
    table.loc[[1, 2, 3], "AGE"] = ["inf", "-inf", "Infinity"]
    with pytest.raises(DataError, match=r"'AGE' has an infinite number \(inf or -inf\) in 3 of 50"):
        check_table(write(tmp_path, table), data_settings)


def test_empty_cells_in_a_numeric_feature_still_pass(tmp_path, data_settings):
    table = sample_frame(50).astype({"AGE": "float64"})
    table.loc[[1, 2], "AGE"] = None
    assert check_table(write(tmp_path, table), data_settings).rows == 50


def test_an_infinite_number_in_the_target_is_refused(tmp_path, data_settings):
    table = sample_frame(50).astype({TARGET: "float64"})
    table.loc[4, TARGET] = float("inf")
    with pytest.raises(DataError, match=rf"target column '{TARGET}' has an infinite .* in 1 of 50"):
        check_table(write(tmp_path, table), data_settings)


def test_an_infinite_number_in_the_sensitive_column_is_refused(tmp_path, data_settings):
    table = sample_frame(50).astype({"SEX": "float64"})
    table.loc[[0, 9], "SEX"] = float("-inf")
    with pytest.raises(DataError, match="column 'SEX' has an infinite .* 2 of 50 rows; fix"):
        check_table(write(tmp_path, table), data_settings)


@pytest.mark.parametrize(("test_size", "rows"), [(0.2, 3), (0.1, 6), (0.5, 4), (0.8, 8)])
def test_the_minimum_rows_per_class_follow_the_rounding_of_the_split(test_size, rows):
    assert min_rows_per_class(test_size) == rows


@pytest.mark.parametrize("test_size", [0.01, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.75, 0.9])
def test_the_minimum_rows_per_class_is_what_the_prep_split_needs(test_size):
    def split(rows):
        """(train, test) rows of a class of ``rows`` rows in the prep step's split."""
        labels = np.array([0] * rows + [1] * 50)
        train, test = prep.stratified_split(labels, test_size, seed=0)
        return int((labels[train] == 0).sum()), int((labels[test] == 0).sum())

    rows = min_rows_per_class(test_size)
    train, test = split(rows)
    assert train >= 2 and test >= 1
    train, test = split(rows - 1)
    assert train < 2 or test < 1


def test_a_class_with_too_few_rows_for_the_split_is_refused(tmp_path, data_settings):
    with pytest.raises(
        DataError,
        match=rf"'{TARGET}' has 2 rows of class '0', fewer than 3 rows per class for the split",
    ):
        check_table(write(tmp_path, with_class_rows(2)), data_settings)


def test_the_minimum_rows_per_class_follows_the_test_size(tmp_path, data_settings):
    path = write(tmp_path, with_class_rows(3))
    assert check_table(path, data_settings).rows == 33
    with pytest.raises(DataError, match=r"has 3 rows of class '0', fewer than 4 rows per class"):
        check_table(path, data_settings, test_size=0.5)


def test_a_repeated_record_counts_once_for_the_split(tmp_path, data_settings):
    table = with_class_rows(2)
    table = pd.concat([table, table.head(1)])
    with pytest.raises(DataError, match=r"has 2 rows of class '0' \(a record repeated"):
        check_table(write(tmp_path, table), data_settings)


def test_a_positive_class_with_a_single_row_is_named(tmp_path, data_settings):
    with pytest.raises(
        DataError,
        match=rf"data.positive_class '1' has a single row in target column '{TARGET}'",
    ):
        check_table(write(tmp_path, with_class_rows(30, positives=1)), data_settings)


def test_a_text_positive_class_with_a_single_row_is_named(tmp_path, data_settings):
    table = with_class_rows(30, positives=1)
    table[TARGET] = table[TARGET].map({0: "no", 1: "yes"})
    settings = data_settings.model_copy(update={"positive_class": "yes"})
    with pytest.raises(DataError, match="data.positive_class 'yes' has a single row"):
        check_table(write(tmp_path, table), settings)


def test_a_text_column_with_too_many_values_is_refused(tmp_path, data_settings):
    table = sample_frame(300)
    table["AGE"] = [f"person{i}" for i in range(300)]
    with pytest.raises(DataError, match="'AGE' holds text with 300 distinct values"):
        check_table(write(tmp_path, table), data_settings)


def test_a_number_column_with_a_stray_text_cell_is_refused_naming_the_cells(
    tmp_path, data_settings
):
    table = sample_frame(300).astype({"LIMIT_BAL": object})
    table.loc[4, "LIMIT_BAL"] = "x" * (10 << 20)  # a 10 MB cell
    table.loc[[100, 200], "LIMIT_BAL"] = ["n/a?", "-"]
    table.loc[[7, 8], "LIMIT_BAL"] = None
    path = write(tmp_path, table)
    # Left in, it would reach the model as text: a category per distinct number.
    assert contract.feature_kind(prep.read_csv(path)["LIMIT_BAL"]) == "text"
    with pytest.raises(DataError) as error:
        check_table(path, data_settings, name="data.path: data/x.csv")
    assert str(error.value) == (
        "data.path: data/x.csv: feature column 'LIMIT_BAL' holds numbers but for 3 of its "
        f"298 filled cells (row 6: {'x' * 40!r}... (10,485,760 characters), row 102: "
        "'n/a?', row 202: '-'; the header is row 1), which would make it a text column; fix "
        "those cells or empty them (empty cells are allowed), or add the column to "
        "data.features.exclude"
    )


def test_a_column_of_codes_and_words_in_one_cell_of_twenty_or_more_is_text(tmp_path, data_settings):
    # Counts top-coded as "3+": categories, as the prep step reads them too.
    table = sample_frame(300)
    table["EDUCATION"] = [str(i % 3) if i % 10 else "3+" for i in range(300)]
    path = write(tmp_path, table)
    assert check_table(path, data_settings).rows == 300
    assert contract.feature_kind(prep.read_csv(path)["EDUCATION"]) == "text"


def test_an_empty_feature_column_is_refused(tmp_path, data_settings):
    table = sample_frame(50)
    table["AGE"] = None
    with pytest.raises(DataError, match="feature column 'AGE' is empty"):
        check_table(write(tmp_path, table), data_settings)


def test_an_empty_file_is_refused(tmp_path, data_settings):
    path = tmp_path / "data.csv"
    path.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        check_table(path, data_settings)


def test_a_header_without_rows_is_refused(tmp_path, data_settings):
    with pytest.raises(DataError, match="has a header but no rows"):
        check_table(write(tmp_path, sample_frame(0)), data_settings)


def test_a_file_that_is_not_csv_is_refused(tmp_path, data_settings):
    path = tmp_path / "data.parquet"
    sample_frame(10).to_parquet(path)
    with pytest.raises(DataError, match="expected a .csv file, got '.parquet'"):
        check_table(path, data_settings)


def test_binary_content_in_a_csv_file_is_refused(tmp_path, data_settings):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x01" * 100)
    with pytest.raises(DataError, match="not a readable CSV file"):
        check_table(path, data_settings)


def test_a_missing_file_names_the_settings_key(tmp_path, data_settings):
    with pytest.raises(DataError, match="file not found; check data.path"):
        check_table(tmp_path / "absent.csv", data_settings)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "column 2 of the header has no name; give it one in the header line"),
        ("  ", "column 2 of the header has no name"),
        ("line\nbreak", "column 2 of the header, 'line\\\\nbreak', holds a line break"),
    ],
)
def test_a_column_name_no_step_could_be_told_about_is_refused(
    tmp_path, data_settings, name, message
):
    table = sample_frame(50).rename(columns={"SEX": name})
    settings = data_settings.model_copy(update={"sensitive_column": None})
    with pytest.raises(DataError, match=message):
        check_table(write(tmp_path, table), settings)


def test_names_of_any_other_kind_pass(tmp_path, data_settings):
    names = {"LIMIT_BAL": "limit ($)", "AGE": "âge, années", "PAY_0": '1st "pay"'}
    table = sample_frame(50).rename(columns=names)
    profile = check_table(write(tmp_path, table), data_settings)
    assert set(names.values()) <= set(profile.features)


@pytest.mark.parametrize(
    ("labels", "positive"),
    [({0: False, 1: True}, "true"), ({0: False, 1: True}, "True"), ({0: "N", 1: "Y"}, "Y")],
)
def test_boolean_and_letter_labels_pass_with_the_positive_class_as_written(
    tmp_path, data_settings, labels, positive
):
    table = sample_frame(50)
    table[TARGET] = table[TARGET].map(labels)
    settings = data_settings.model_copy(update={"positive_class": positive})
    profile = check_table(write(tmp_path, table), settings)
    assert set(profile.classes) == {
        str(v).lower() if isinstance(v, bool) else v for v in labels.values()
    }


def test_without_a_sensitive_column_every_other_column_is_a_feature(tmp_path, data_settings):
    settings = data_settings.model_copy(update={"sensitive_column": None})
    profile = check_table(write(tmp_path, sample_frame(50)), settings)
    assert "SEX" in profile.features and TARGET not in profile.features


# Reading in chunks: each check must answer as if the whole file were read at once.


@pytest.fixture
def chunks_of(monkeypatch):
    """Read files in chunks of ``rows`` rows of the sample's 24 columns."""

    def set_rows(rows):
        monkeypatch.setattr(table_stats, "CHUNK_CELLS", 24 * rows)

    return set_rows


def test_a_record_repeated_in_a_later_chunk_counts_once(tmp_path, data_settings, chunks_of):
    table = with_class_rows(2).reset_index(drop=True).astype({"AGE": object, "BILL_AMT1": object})
    table.loc[0, "BILL_AMT1"] = None
    other = table.loc[[5]].assign(AGE=None, BILL_AMT1=None)  # a record of its own
    table = pd.concat([table, table.loc[[0]], other], ignore_index=True)
    # Record 0 comes again in the last chunk, where AGE is read as floats, not
    # integers, and BILL_AMT1 has no value at all: pandas types it as it likes.
    chunks_of(8)
    with pytest.raises(DataError, match=r"has 2 rows of class '0' \(a record repeated"):
        check_table(write(tmp_path, table), data_settings)


def test_a_column_of_numbers_with_text_in_a_later_chunk_is_text(tmp_path, data_settings, chunks_of):
    table = sample_frame(300).astype({"AGE": object})
    # As text, "7" and "7.0" are two values; as numbers they would be one. One
    # cell in twelve is a word: too many for numbers with mistakes, it is text.
    table["AGE"] = [str(i) for i in range(255)] + ["7.0"] * 20 + ["unknown"] * 25
    path = write(tmp_path, table)
    assert pd.read_csv(path, low_memory=False)["AGE"].nunique() == 257
    chunks_of(10)
    with pytest.raises(DataError, match="'AGE' holds text with 257 distinct values"):
        check_table(path, data_settings)


def _gaps_in_some_chunks(table):
    table = table.astype({"AGE": "float64", "LIMIT_BAL": "float64"})
    table.loc[[7, 8], "AGE"] = None
    table.loc[40:, "LIMIT_BAL"] = None
    return table


def _true_false_feature_with_a_gap(table):
    table["PAY_0"] = (table["PAY_0"] > 0).astype(object)
    table.loc[12, "PAY_0"] = None
    return table


def _whole_float_target_in_one_chunk(table):
    table = table.astype({TARGET: object})
    table.loc[20, TARGET] = float(table.loc[20, TARGET])  # written "1.0" or "0.0"
    return table


def _fractional_target_in_one_chunk(table):
    table = table.astype({TARGET: "float64"})
    table.loc[33, TARGET] = 0.5
    return table


def _infinite_sensitive_in_the_last_chunk(table):
    table = table.astype({"SEX": "float64"})
    table.loc[48, "SEX"] = float("inf")
    return table


def _text_after_numbers_in_the_target(table):
    table[TARGET] = table[TARGET].astype(object)
    table.loc[45:, TARGET] = table.loc[45:, TARGET].map({0: "0", 1: "yes"})
    return table


def _stray_text_in_a_number_column_in_a_later_chunk(table):
    table = table.astype({"LIMIT_BAL": object})
    table.loc[[31, 47], "LIMIT_BAL"] = ["unknown", "?"]
    return table


def _repeated_records_across_chunks(table):
    return pd.concat([table, table.iloc[[0, 3, 3]]], ignore_index=True)


@pytest.mark.parametrize(
    "change",
    [
        _gaps_in_some_chunks,
        _true_false_feature_with_a_gap,
        _whole_float_target_in_one_chunk,
        _fractional_target_in_one_chunk,
        _infinite_sensitive_in_the_last_chunk,
        _text_after_numbers_in_the_target,
        _repeated_records_across_chunks,
        _stray_text_in_a_number_column_in_a_later_chunk,
    ],
)
@pytest.mark.parametrize("rows", [1, 7])
def test_small_chunks_give_what_one_chunk_gives(tmp_path, data_settings, chunks_of, change, rows):
    path = write(tmp_path, change(sample_frame(50)))

    def outcome():
        try:
            return check_table(path, data_settings)
        except DataError as error:
            return str(error)

    whole = outcome()
    chunks_of(rows)
    assert outcome() == whole


# A header too wide to use is refused from its header line alone.

WIDE_CHECK = """
import sys, time, tracemalloc
from pathlib import Path
from mlops.data_checks import DataError, check_table
from mlops.settings import load_settings
data = load_settings(sys.argv[1], model="credit-default").data
tracemalloc.start()
try:
    check_table(Path(sys.argv[2]), data)
except DataError as error:
    print(error)
print(tracemalloc.get_traced_memory()[1])
"""


def wide_file(tmp_path, columns, rows=3):
    names = [TARGET, "SEX", *(f"x{i}" for i in range(columns - 2))]
    path = tmp_path / "wide.csv"
    with path.open("w") as handle:
        handle.write(",".join(names) + "\n")
        for row in range(rows):
            handle.write(",".join(str((row + i) % 2 + 1) for i in range(columns)) + "\n")
    return path


def test_a_header_of_a_hundred_thousand_columns_is_refused_at_once_in_bounded_memory(tmp_path):
    path = wide_file(tmp_path, 100_000)
    # In a process of its own, so that the peak memory is this check's alone.
    done = subprocess.run(
        [sys.executable, "-c", WIDE_CHECK, str(REPO / "mlops.yml"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,  # a check quadratic in the columns took over 300 s
        check=True,
    )
    message, peak = done.stdout.splitlines()
    assert message == (
        f"{path}: the header names 100,000 columns, more than the 2,000 a data file may "
        "have; keep in the file only the columns the model may use"
    )
    assert int(peak) < 64 * 2**20  # what Python allocated while checking (about 13 MB)


def test_the_widest_header_allowed_is_read_on(tmp_path, data_settings):
    with pytest.raises(DataError, match="the header names 2,001 columns, more than the 2,000"):
        check_table(wide_file(tmp_path, 2_001, rows=0), data_settings)
    with pytest.raises(DataError, match="the file has a header but no rows"):
        check_table(wide_file(tmp_path, 2_000, rows=0), data_settings)


def test_a_header_line_that_does_not_end_is_refused(tmp_path, data_settings):
    path = tmp_path / "data.csv"
    names = [TARGET, "SEX", *(f"{i}{'x' * 1100}" for i in range(1000))]  # 1.1 M characters
    path.write_text(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n")
    with pytest.raises(DataError, match="header line is longer than 1,048,576 characters"):
        check_table(path, data_settings)
