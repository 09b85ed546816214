"""Each kind's label, checked at registration: what it accepts and how it refuses."""

import pandas as pd
import pytest

from mlops.data_checks import DataError, check_table
from mlops.kinds import get_kind
from mlops.settings import load_settings
from tests.conftest import REPO

WINE = REPO / "data" / "wine" / "wine.csv"
DIABETES = REPO / "data" / "diabetes" / "diabetes.csv"


def data_of(model: str):
    return load_settings(REPO / "mlops.yml", model=model).data


def checked(path, model: str):
    data = data_of(model)
    return check_table(
        path, data, get_kind(data.kind), test_size=0.2, name=f"data.path: {path.name}"
    )


def test_the_sample_classes_and_numbers_pass():
    assert checked(WINE, "wine-cultivar").classes == ("class_0", "class_1", "class_2")
    profile = checked(DIABETES, "diabetes-progression")
    assert (profile.rows, profile.classes, profile.positive_rate) == (442, (), None)


def relabelled(tmp_path, source, column, values) -> object:
    table = pd.read_csv(source)
    table[column] = values(table)
    path = tmp_path / source.name
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            lambda t: (t.cultivar == "class_0").map({True: "a", False: "b"}),
            "target column 'cultivar' has 2 values (a, b); a multiclass-classification model "
            "needs 3 to 100 classes: use kind: binary-classification for two classes",
        ),
        (
            lambda t: range(len(t)),
            "target column 'cultivar' has 178 values, more than 100 classes; if it is a "
            "number to predict, use kind: regression",
        ),
        (
            lambda t: t.cultivar.where(t.index > 1, "class_9"),
            "target column 'cultivar' has 2 rows of class 'class_9', fewer than 3 rows per "
            "class for the split",
        ),
    ],
    ids=["two-classes", "a-number", "a-tiny-class"],
)
def test_a_multiclass_label_that_is_not_one_is_refused_saying_what_to_do(tmp_path, values, message):
    path = relabelled(tmp_path, WINE, "cultivar", values)
    with pytest.raises(DataError) as error:
        checked(path, "wine-cultivar")
    assert str(error.value).startswith(f"data.path: wine.csv: {message}")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            lambda t: t.progression.astype(str).where(t.index != 3, "unknown"),
            "target column 'progression' holds text (row 5: 'unknown'; the header is row 1); a "
            "regression label is a number: fix those cells, or use kind: "
            "multiclass-classification for classes",
        ),
        (
            lambda t: 7,
            "target column 'progression' has a single value; a regression model needs a "
            "label that varies",
        ),
        (
            lambda t: t.progression > 140,
            "target column 'progression' holds true/false, not numbers",
        ),
        (
            lambda t: t.progression.where(t.index != 9),
            "target column 'progression' has 1 empty values; every row needs a label",
        ),
    ],
    ids=["text", "constant", "yes-no", "a-gap"],
)
def test_a_regression_label_that_is_not_a_number_is_refused_naming_the_cells(
    tmp_path, values, message
):
    path = relabelled(tmp_path, DIABETES, "progression", values)
    with pytest.raises(DataError) as error:
        checked(path, "diabetes-progression")
    assert str(error.value).startswith(f"data.path: diabetes.csv: {message}")


def test_a_binary_label_of_three_values_names_the_kinds_that_take_them(tmp_path):
    path = relabelled(tmp_path, WINE, "cultivar", lambda t: t.cultivar)
    data = data_of("credit-default").model_copy(
        update={"target_column": "cultivar", "positive_class": "class_0", "sensitive_column": None}
    )
    with pytest.raises(DataError, match="or set kind: multiclass-classification .* or regression"):
        check_table(path, data, get_kind("binary-classification"))
