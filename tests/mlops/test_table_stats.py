"""A file read in chunks gives the statistics of the whole file read at once."""

import pandas as pd
import pytest

from mlops import table_stats
from mlops.table_stats import read_stats

# The cells of one column, read two rows at a time: pandas types each chunk on its own.
COLUMNS = {
    "numbers with a gap in one chunk": ["1", "2", "", "3", "4", "5"],
    "floats in one chunk": ["1", "2", "2.5", "inf", "-1", "0"],
    "true/false with a gap": ["True", "False", "", "TRUE", "false", "True"],
    "numbers, then text": ["1", "2", "7", "7.0", "x", "3"],
    "true/false, then numbers": ["True", "False", "1", "0", "True", "1"],
    "empty, then text": ["", "", "", "a", "b", ""],
    "empty": ["", "", "", "", "", ""],
}


@pytest.fixture(autouse=True)
def chunks_of_two_rows(monkeypatch):
    monkeypatch.setattr(table_stats, "CHUNK_CELLS", 6)  # two rows of three columns


@pytest.mark.parametrize("cells", COLUMNS.values(), ids=COLUMNS)
def test_a_column_has_the_type_and_values_the_whole_file_gives_it(tmp_path, cells):
    path = tmp_path / "data.csv"
    path.write_text("label,x,y\n" + "".join(f"0,{cell},y\n" for cell in cells))
    whole = pd.read_csv(path, low_memory=False)["x"]
    column = read_stats(path, target="label", counted=set()).stats["x"]
    assert column.dtype == whole.dtype.name
    assert (column.rows, column.empties) == (len(whole), whole.isna().sum())
    if whole.dtype == object:
        assert column.distinct == set(whole.dropna())


def test_records_count_once_as_the_whole_file_drops_repeated_ones(tmp_path):
    # Each repeated record lands in a chunk where a column of it is typed otherwise:
    # 1 and 1.0 are the same number, an empty cell is empty in any type (even where
    # the whole chunk's column is empty).
    lines = ["0,1,a", "1,,b", "0,1,a", "1,2,", "1,,b", "0,,a", "1,2,", "0,3,", "0,1.0,a"]
    path = tmp_path / "data.csv"
    path.write_text("label,x,y\n" + "\n".join(lines) + "\n")
    whole = pd.read_csv(path, low_memory=False)
    stats = read_stats(path, target="label", counted={"label"})
    assert stats.distinct_records() == whole.drop_duplicates()["label"].value_counts().to_dict()
    assert stats.class_rows() == whole["label"].value_counts().to_dict()


def test_the_cells_of_a_text_column_that_are_not_numbers_are_found_in_any_chunk(tmp_path):
    cells = ["1", "", "oops", "4", "5", "6", "n/a?", "8", "9.5", "x", "y"]
    path = tmp_path / "data.csv"
    path.write_text("label,x,y\n" + "".join(f"0,{cell},y\n" for cell in cells))
    column = read_stats(path, target="label", counted=set()).stats["x"]
    # Rows of the data counted from 0: the fourth line of the file is row 2.
    assert (column.not_numbers, column.first_not_numbers) == (
        4,
        [(2, "oops"), (6, "n/a?"), (9, "x")],
    )
