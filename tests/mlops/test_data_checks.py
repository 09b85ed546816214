import pytest

from mlops.data_checks import DataError, check_table, feature_columns
from mlops.settings import load_settings
from tests.conftest import REPO, sample_frame

TARGET = "default_payment_next_month"


@pytest.fixture
def data_settings():
    return load_settings(REPO / "mlops.yml").data


def write(tmp_path, table, name="data.csv"):
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def test_the_sample_data_passes_and_is_profiled(tmp_path, data_settings):
    profile = check_table(write(tmp_path, sample_frame(500)), data_settings)
    assert profile.rows == 500
    assert "SEX" not in profile.features
    assert TARGET not in profile.features
    assert len(profile.features) == 22
    assert 0.1 < profile.positive_rate < 0.4


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


def test_a_text_column_with_too_many_values_is_refused(tmp_path, data_settings):
    table = sample_frame(300)
    table["AGE"] = [f"person{i}" for i in range(300)]
    with pytest.raises(DataError, match="'AGE' holds text with 300 distinct values"):
        check_table(write(tmp_path, table), data_settings)


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
