"""The loader's results kept between runs: a hit only for the very files it read."""

import json
import shutil

import pytest

from mlops.deployment_spec import DeploymentSpecError
from mlops.pipeline_graph import load_pipeline
from mlops.targets.local import yaml_cache
from mlops.targets.local.yaml_cache import YamlCache, cached_load
from tests.conftest import REPO


@pytest.fixture
def pipelines(tmp_path):
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    return tmp_path / "pipelines"


def never(*args):
    raise AssertionError("the loader ran on a cache hit")


def load(cache, kind, path, submit=None):
    return cached_load(cache, kind, path, submit)()


def test_a_second_load_of_the_same_files_is_the_same_graph_without_the_loader(pipelines, tmp_path):
    cache = YamlCache(tmp_path / "cache")
    pipeline = pipelines / "train.yml"
    first = load(cache, "pipeline", pipeline)
    assert first == load_pipeline(pipeline)
    assert load(cache, "pipeline", pipeline, submit=never) == first


@pytest.mark.parametrize(
    "edited", ["train.yml", "components/train.yml", "../environments/train/conda.yml"]
)
def test_editing_any_file_the_loader_read_loads_again(pipelines, tmp_path, edited):
    cache = YamlCache(tmp_path / "cache")
    pipeline = pipelines / "train.yml"
    load(cache, "pipeline", pipeline)
    with (pipelines / edited).open("a") as file:
        file.write("\n# edited\n")
    assert cache.pipeline(pipeline) is None
    load(cache, "pipeline", pipeline)
    assert cache.pipeline(pipeline) is not None


def test_a_changed_command_is_never_served_from_the_cache(pipelines, tmp_path):
    cache = YamlCache(tmp_path / "cache")
    pipeline = pipelines / "train.yml"
    load(cache, "pipeline", pipeline)
    component = pipelines / "components" / "prep.yml"
    component.write_text(component.read_text().replace("python prep.py", "python3 prep.py"))
    graph = load(cache, "pipeline", pipeline)
    assert next(s for s in graph.steps if s.name == "prep").command.startswith("python3 prep.py")


def test_another_sdk_version_or_format_loads_again(pipelines, tmp_path, monkeypatch):
    cache = YamlCache(tmp_path / "cache")
    pipeline = pipelines / "train.yml"
    load(cache, "pipeline", pipeline)
    monkeypatch.setattr(yaml_cache, "_sdk_version", lambda: "0.0.1")
    assert cache.pipeline(pipeline) is None
    monkeypatch.undo()
    assert cache.pipeline(pipeline) is not None
    monkeypatch.setattr(yaml_cache, "FORMAT", yaml_cache.FORMAT + 1)
    assert cache.pipeline(pipeline) is None


def test_a_corrupt_entry_is_a_miss(pipelines, tmp_path):
    cache = YamlCache(tmp_path / "cache")
    pipeline = pipelines / "train.yml"
    load(cache, "pipeline", pipeline)
    for entry in (tmp_path / "cache").glob("pipeline-*.json"):
        entry.write_text('{"format": 1, "files": ')
    assert cache.pipeline(pipeline) is None
    assert load(cache, "pipeline", pipeline) == load_pipeline(pipeline)


def test_a_loader_error_is_raised_and_not_kept(pipelines, tmp_path):
    cache = YamlCache(tmp_path / "cache")
    deployment = pipelines / "endpoints" / "deployment.yml"
    spec = load(cache, "deployment", deployment)
    assert load(cache, "deployment", deployment, submit=never) == spec
    deployment.write_text(deployment.read_text().replace("scoring_script:", "scoring_scrip:"))
    with pytest.raises(DeploymentSpecError):
        load(cache, "deployment", deployment)
    assert cache.deployment(deployment) is None


def test_a_deleted_scoring_script_is_a_miss(pipelines, tmp_path):
    cache = YamlCache(tmp_path / "cache")
    deployment = pipelines / "endpoints" / "deployment.yml"
    spec = load(cache, "deployment", deployment)
    spec.script.unlink()
    assert cache.deployment(deployment) is None


def test_entries_are_owner_only_json(pipelines, tmp_path):
    cache = YamlCache(tmp_path / "cache")
    load(cache, "pipeline", pipelines / "train.yml")
    (entry,) = (tmp_path / "cache").glob("pipeline-*.json")
    assert entry.stat().st_mode & 0o077 == 0
    assert (tmp_path / "cache").stat().st_mode & 0o077 == 0
    assert str(pipelines / "components" / "train.yml") in json.loads(entry.read_text())["files"]


def test_another_checkout_of_the_same_files_finds_the_entry_with_its_own_paths(pipelines, tmp_path):
    cache = tmp_path / "cache"
    first = load(YamlCache(cache, tmp_path), "pipeline", pipelines / "train.yml")
    other = tmp_path / "other checkout"
    shutil.copytree(tmp_path, other, ignore=shutil.ignore_patterns("cache", "other checkout"))
    graph = load(YamlCache(cache, other), "pipeline", other / "pipelines" / "train.yml", never)
    assert graph.path == other / "pipelines" / "train.yml"
    assert {step.code for step in graph.steps} == {other / "pipelines" / "src"}
    assert all(step.source.is_relative_to(other / "pipelines") for step in graph.steps)
    assert [(s.name, s.command, s.bindings) for s in graph.steps] == [
        (s.name, s.command, s.bindings) for s in first.steps
    ]
    (other / "pipelines" / "components" / "train.yml").write_text(
        (other / "pipelines" / "components" / "train.yml").read_text() + "\n# edited\n"
    )
    with pytest.raises(AssertionError, match="the loader ran"):
        load(YamlCache(cache, other), "pipeline", other / "pipelines" / "train.yml", never)
