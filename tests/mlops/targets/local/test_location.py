"""A local state folder that moves (a renamed checkout, a copied project) keeps working."""

import json
import shutil
import sqlite3
from pathlib import Path

from mlops import lifecycle
from mlops.settings import load_settings
from mlops.targets import get_target
from mlops.targets.local.location import LOCATION_FILE, rebase
from tests.conftest import copy_project


def paths_in_stores(state: Path) -> list[str]:
    found = []
    for store in state.rglob("mlflow.db"):
        with sqlite3.connect(store) as db:
            found += [row[0] for row in db.execute("SELECT artifact_uri FROM runs")]
            found += [row[0] for row in db.execute("SELECT source FROM model_versions")]
    return found


def test_a_copied_project_uses_its_own_files_and_leaves_the_original_alone(
    trained_template, tmp_path
):
    store = Path(".mlops") / "models" / "credit-default" / "mlflow.db"
    before = (trained_template / store).read_bytes()
    copy = copy_project(trained_template, tmp_path / "moved here")
    settings = load_settings(copy / "mlops.yml")
    target = get_target(settings)
    run = target.get_run("latest")
    assert all(Path(path).is_relative_to(copy) for path in run.outputs.values())
    assert all(Path(step.log).is_relative_to(copy) for step in run.steps)

    model, _, _ = lifecycle.register(target, settings, run.run_id)
    copied_model = Path(model.source.removeprefix("file://").replace("%20", " "))
    assert copied_model.is_relative_to(copy / ".mlops") and (copied_model / "MLmodel").is_file()
    assert paths_in_stores(copy / ".mlops")
    assert all("moved%20here" in path for path in paths_in_stores(copy / ".mlops"))
    recorded = json.loads((copy / ".mlops" / LOCATION_FILE).read_text())["path"]
    assert recorded == str((copy / ".mlops").resolve())
    assert (trained_template / store).read_bytes() == before


def test_a_state_folder_from_before_the_location_file_is_found_where_it_was(
    trained_template, tmp_path
):
    copy = copy_project(trained_template, tmp_path / "older")
    (copy / ".mlops" / LOCATION_FILE).unlink()
    target = get_target(load_settings(copy / "mlops.yml"))
    run = target.get_run("latest")
    model, _, _ = lifecycle.register(target, target.settings, run.run_id)
    assert Path(model.source.removeprefix("file://")).is_relative_to(copy)


def test_only_paths_inside_the_old_folder_are_rewritten(tmp_path):
    store = tmp_path / "mlflow.db"
    old, new = Path("/srv/a/.mlops"), Path("/srv/b/.mlops")
    kept = ["file:///srv/a/.mlops-old/x", "/srv/a/.mlopsx", "file:///elsewhere/.mlops/x"]
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE runs (artifact_uri TEXT)")
        rows = ["file:///srv/a/.mlops/mlartifacts/1", "/srv/a/.mlops", *kept]
        db.executemany("INSERT INTO runs VALUES (?)", [(row,) for row in rows])
    rebase(store, old, new)
    rebase(store, old, new)  # a second command settling the same move changes nothing
    with sqlite3.connect(store) as db:
        after = [row[0] for row in db.execute("SELECT artifact_uri FROM runs")]
    assert after == ["file:///srv/b/.mlops/mlartifacts/1", "/srv/b/.mlops", *kept]


def test_a_project_moved_whole_still_deploys_its_model(trained_template, tmp_path):
    first = copy_project(trained_template, tmp_path / "first")
    settings = load_settings(first / "mlops.yml")
    run = get_target(settings).get_run("latest")
    lifecycle.register(get_target(settings), settings, run.run_id)
    moved = tmp_path / "second"
    shutil.move(first, moved)
    target = get_target(load_settings(moved / "mlops.yml"))
    model = target.get_model("1")
    assert Path(model.source.removeprefix("file://")).is_dir()
    assert target.output_path(target.get_run(run.run_id), "model").is_relative_to(moved)
