"""New MLflow stores start as a copy of an empty one, made once per MLflow version."""

import sqlite3

import pytest
from mlflow.tracking import MlflowClient

from mlops.targets.local import blank_store
from mlops.targets.local.tracking import ensure_experiment, tracking_uri


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def locations(db):
    with sqlite3.connect(db) as store:
        return dict(store.execute("SELECT name, artifact_location FROM experiments"))


def test_a_new_store_is_a_copy_of_the_empty_one_that_mlflow_reads(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    state = tmp_path / "state"
    state.mkdir()
    ensure_experiment(state, "credit-default")
    (blank,) = (cache / "mlops").glob("mlflow-*-empty.db")
    assert locations(blank).keys() == {"Default"}
    # The copy's default experiment keeps its artifacts in the state folder, not
    # where the empty store happened to be made.
    assert locations(state / "mlflow.db") == {
        "Default": (state / "mlartifacts" / "0").as_uri(),
        "credit-default": (state / "mlartifacts").as_uri(),
    }
    client = MlflowClient(tracking_uri(state))
    run = client.create_run(client.get_experiment_by_name("credit-default").experiment_id)
    assert client.get_run(run.info.run_id).info.artifact_uri.startswith(state.as_uri())


def test_an_existing_store_is_never_replaced(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    ensure_experiment(tmp_path, "first")
    before = (tmp_path / "mlflow.db").read_bytes()
    blank_store.seed(tmp_path / "mlflow.db", tmp_path / "mlartifacts")
    assert (tmp_path / "mlflow.db").read_bytes() == before
    assert not list(tmp_path.glob(".mlflow.db.*"))


def test_without_a_writable_cache_mlflow_creates_the_store_itself(tmp_path, monkeypatch):
    unwritable = tmp_path / "file-not-folder"
    unwritable.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(unwritable))
    state = tmp_path / "state"
    state.mkdir()
    ensure_experiment(state, "credit-default")
    assert "credit-default" in locations(state / "mlflow.db")
