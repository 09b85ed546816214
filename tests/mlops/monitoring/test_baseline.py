"""A version's monitor baseline as it travels with a promotion: written and read
back whole, bounded in size, and a file that cannot be read is named."""

import numpy as np
import pandas as pd
import pytest

from mlops.errors import UserError
from mlops.monitoring.baseline import BASELINE_ROWS, Baseline, bounded


def test_a_baseline_reads_back_as_it_was_written(tmp_path):
    features = pd.DataFrame({"AGE": [21, 35, 60], "EDUCATION": ["1", "2", "2"]})
    answers = pd.Series([0, 1, 0], name="whatever")

    Baseline(features, answers).write(tmp_path)
    read = Baseline.read(tmp_path)

    pd.testing.assert_frame_equal(read.features, features)
    assert read.answers.name == "prediction" and read.answers.tolist() == [0, 1, 0]


def test_a_baseline_without_answers_reads_back_without_them(tmp_path):
    Baseline(pd.DataFrame({"AGE": [21, 35]}), None).write(tmp_path)
    assert Baseline.read(tmp_path).answers is None


@pytest.mark.parametrize("broken", ["features.parquet", "answers.parquet"])
def test_a_file_that_cannot_be_read_is_named_with_what_to_do(tmp_path, broken):
    Baseline(pd.DataFrame({"AGE": [21, 35]}), pd.Series([0, 1])).write(tmp_path)
    (tmp_path / broken).write_bytes(b"not parquet")

    with pytest.raises(UserError, match=f"{tmp_path / broken}: the baseline cannot be read.*"
                                        "promote the version again"):  # fmt: skip
        Baseline.read(tmp_path)


def test_a_missing_features_file_is_named(tmp_path):
    with pytest.raises(UserError, match="features.parquet: the baseline cannot be read"):
        Baseline.read(tmp_path)


def test_a_split_longer_than_the_bound_is_a_seeded_sample_in_its_order():
    rows = BASELINE_ROWS + 20_000
    table = pd.DataFrame({"x": np.arange(rows)})

    once, again = bounded(table), bounded(table)

    assert len(once) == BASELINE_ROWS
    pd.testing.assert_frame_equal(once, again)
    assert once["x"].is_monotonic_increasing and once["x"].is_unique
    short = table.head(1000)
    assert bounded(short) is short
