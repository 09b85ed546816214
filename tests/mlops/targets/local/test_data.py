import hashlib
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mlops import lifecycle
from mlops.data_checks import DataError
from mlops.settings import load_settings
from mlops.targets.local import LocalTarget
from mlops.targets.local.data import LocalDataStore
from tests.conftest import STATE, sample_frame

TARGET = "default_payment_next_month"


@pytest.fixture
def store(project):
    return LocalDataStore(project / STATE / "data")


@pytest.fixture
def data_settings(project):
    return load_settings(project / "mlops.yml").data


def versions(store, name="credit-default"):
    folder = store.root / name
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_version_is_the_content_hash_and_the_copy_is_byte_identical(
    project, store, data_settings
):
    source = project / "data" / "credit.csv"
    asset = store.register(source, data_settings)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert (asset.version, asset.sha256, asset.new) == (digest[:12], digest, True)
    assert asset.rows == 3000
    assert Path(asset.path).read_bytes() == source.read_bytes()


def test_registering_the_same_bytes_twice_returns_the_same_version_once(
    project, store, data_settings
):
    source = project / "data" / "credit.csv"
    first = store.register(source, data_settings)
    copy = project / "elsewhere.csv"
    copy.write_bytes(source.read_bytes())
    second = store.register(copy, data_settings)
    assert second.version == first.version
    assert second.new is False
    assert versions(store) == [first.version]


def test_new_bytes_give_a_new_version_that_becomes_the_latest(project, store, data_settings):
    source = project / "data" / "credit.csv"
    first = store.register(source, data_settings)
    sample_frame(2000).to_csv(source, index=False)
    second = store.register(source, data_settings)
    assert second.version != first.version
    assert store.latest("credit-default").version == second.version
    assert store.get("credit-default", first.version).rows == 3000


@pytest.mark.parametrize(
    ("break_file", "message"),
    [
        (lambda p: sample_frame(50).drop(columns=["SEX"]).to_csv(p, index=False), "'SEX' named by"),
        (
            lambda p: (
                sample_frame(50).assign(default_payment_next_month=range(50)).to_csv(p, index=False)
            ),
            "exactly two values",
        ),
        (lambda p: p.write_text(""), "the file is empty"),
        (lambda p: p.write_bytes(b"\x00\xff" * 64), "not a readable CSV"),
        (lambda p: p.unlink(), "file not found"),
    ],
    ids=["missing-column", "non-binary-target", "empty", "not-csv-content", "missing-file"],
)
def test_bad_input_registers_nothing(project, store, data_settings, break_file, message):
    source = project / "data" / "credit.csv"
    break_file(source)
    with pytest.raises(DataError, match=message):
        store.register(source, data_settings)
    assert versions(store) == []
    assert store.latest("credit-default") is None


def test_a_non_csv_file_registers_nothing(project, store, data_settings):
    source = project / "data" / "credit.parquet"
    sample_frame(50).to_parquet(source)
    with pytest.raises(DataError, match="expected a .csv file"):
        store.register(source, data_settings)
    assert versions(store) == []


def test_a_moved_state_folder_keeps_its_assets_usable(project, store, data_settings, tmp_path):
    asset = store.register(project / "data" / "credit.csv", data_settings)
    moved = tmp_path / "moved"
    (project / ".mlops").rename(moved)
    found = LocalDataStore(moved / STATE.relative_to(".mlops") / "data").get(
        "credit-default", asset.version
    )
    assert Path(found.path).read_bytes() == (project / "data" / "credit.csv").read_bytes()


def test_a_registration_killed_outright_leaves_a_folder_the_next_one_removes(
    project, store, data_settings
):
    source = project / "data" / "credit.csv"
    folder = store.root / "credit-default"
    killed = folder / f".staging-{_ended_pid()}-abc"
    killed.mkdir(parents=True)
    (killed / "credit.csv").write_bytes(source.read_bytes())
    running = folder / f".staging-{os.getpid()}-def"  # a registration still at work
    running.mkdir()
    asset = store.register(source, data_settings)
    assert not killed.exists()
    assert running.exists()
    assert Path(asset.path).exists()


def _ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _frame_with(change):
    def write(path):
        table = sample_frame(300)
        change(table)
        table.to_csv(path, index=False)

    return write


# Every check a file meets on its way to registration, each broken once.
BAD_FILES = {
    "missing": lambda p: p.unlink(),
    "empty": lambda p: p.write_text(""),
    "header-only": lambda p: sample_frame(0).to_csv(p, index=False),
    "binary": lambda p: p.write_bytes(b"\x00\xff" * 64),
    "ragged-rows": lambda p: p.write_text("a,b\n1,2\n1,2,3,4\n"),
    "too-wide": lambda p: p.write_text(",".join(f"c{i}" for i in range(3000)) + "\n"),
    "blank-name": lambda p: p.write_text(p.read_text().replace(",AGE,", ",,", 1)),
    "repeated-name": lambda p: p.write_text(p.read_text().replace(",PAY_2,", ",AGE,", 1)),
    "missing-column": _frame_with(lambda t: t.drop(columns=["SEX"], inplace=True)),
    "three-classes": _frame_with(lambda t: t.loc.__setitem__((0, TARGET), 2)),
    "single-group": _frame_with(lambda t: t.__setitem__("SEX", 1)),
    "empty-feature": _frame_with(lambda t: t.__setitem__("AGE", None)),
    "infinite": _frame_with(lambda t: t.__setitem__("AGE", float("inf"))),
    "stray-text": _frame_with(
        lambda t: t.__setitem__("AGE", t["AGE"].astype(str).mask(t.index == 9, "?"))
    ),
    "many-categories": _frame_with(lambda t: t.__setitem__("AGE", [f"p{i}" for i in t.index])),
    "one-positive": lambda p: pd.concat(
        [sample_frame(300).query(f"{TARGET} == 0"), sample_frame(300).query(f"{TARGET} == 1")[:1]]
    ).to_csv(p, index=False),
}


@pytest.mark.parametrize("break_file", BAD_FILES.values(), ids=BAD_FILES)
def test_every_data_check_names_the_file_as_data_path_does(project, break_file):
    settings = load_settings(project / "mlops.yml")
    break_file(project / "data" / "credit.csv")
    with pytest.raises(DataError) as error:
        lifecycle.register_data(LocalTarget(settings), settings)
    message = str(error.value)
    assert message.startswith("data.path: ../../data/credit.csv: "), message
    # Never the copy that was checked, which the user never made.
    assert ".staging-" not in message and str(project / ".mlops") not in message
    assert not any((project / STATE / "data").rglob("asset.json"))


def test_registered_bytes_under_other_column_settings_get_the_checks_a_new_file_gets(
    project, store, data_settings, tmp_path
):
    source = project / "data" / "credit.csv"
    first = store.register(source, data_settings)
    education = data_settings.model_copy(update={"target_column": "EDUCATION"})
    with pytest.raises(DataError) as fresh:
        LocalDataStore(tmp_path / "fresh").register(source, education)
    with pytest.raises(DataError) as again:
        store.register(source, education)
    assert str(again.value) == str(fresh.value)
    assert str(again.value).startswith(
        "data.path: ../../data/credit.csv: target column 'EDUCATION'"
    )
    assert "data.target_column" in str(again.value)
    assert versions(store) == [first.version]


def test_registered_bytes_under_another_binary_target_take_that_targets_values(
    project, store, data_settings
):
    source = project / "data" / "credit.csv"
    first = store.register(source, data_settings)
    by_sex = data_settings.model_copy(
        update={"target_column": "SEX", "positive_class": "2", "sensitive_column": None}
    )
    again = store.register(source, by_sex)
    assert (again.version, again.new) == (first.version, False)
    assert (first.classes, again.classes) == (("0", "1"), ("1", "2"))
    # Passed once under these settings: recorded beside the version, read next time.
    records = list((store.root / "credit-default" / first.version / "checks").glob("*.json"))
    assert len(records) == 1
    assert store.register(source, by_sex).classes == ("1", "2")
    assert store.register(source, data_settings).classes == ("0", "1")
