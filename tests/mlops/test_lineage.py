"""Lineage tags: what a registered model version says about where it came from."""

import shutil
import subprocess
from pathlib import Path

import pytest

from mlops.gate import Champion, decide
from mlops.lineage import git_state, metrics_from_tags, model_digest, model_tags
from mlops.settings import GateSettings, ImprovementRule


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_the_commit_and_a_dirty_tree_are_recorded(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "new.py").write_text("")  # untracked code changes what trains
    assert git_state(tmp_path) == (head, True)


def test_outside_git_the_ci_commit_or_unknown_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    assert git_state(tmp_path) == ("unknown", None)
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    assert git_state(tmp_path) == ("abc123", None)


def test_tags_carry_lineage_metrics_and_verdict_and_metrics_read_back():
    rule = ImprovementRule(metric="auc", better="higher", min_delta=0.01)
    decision = decide({"auc": 0.7}, Champion("3", {"auc": 0.75}), GateSettings(improvement=rule))
    tags = model_tags(
        commit="c0ffee",
        dirty=None,
        data_asset="credit:abc",
        run_id="r1",
        digest="ab" * 32,
        metrics={"auc": 0.7, "log_loss": 0.123456789012345},
        decision=decision,
    )
    assert tags["mlops.git_dirty"] == "unknown"
    assert tags["mlops.gate"] == "reject"
    assert tags["mlops.gate_champion"] == "3"
    assert tags["mlops.gate_failed"] == "auc"
    assert tags["mlops.model_sha256"] == "ab" * 32
    assert all(isinstance(value, str) for value in tags.values())
    assert metrics_from_tags(tags) == {"auc": 0.7, "log_loss": 0.123456789012345}


def test_an_unreadable_metric_tag_is_named():
    with pytest.raises(ValueError, match="tag metric.auc is not a number"):
        metrics_from_tags({"metric.auc": "high"})


def test_the_model_digest_is_the_same_for_a_copy_and_changes_with_any_file(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "sub" / "weights.bin").write_bytes(b"\0\1\2")
    first = model_digest(model)
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    assert model_digest(copy) == first
    (copy / "sub" / "weights.bin").write_bytes(b"\0\1\3")
    assert model_digest(copy) != first
    (copy / "sub" / "weights.bin").write_bytes(b"\0\1\2")
    (copy / "sub" / "weights.bin").rename(copy / "weights.bin")
    assert model_digest(copy) != first


def test_a_refused_change_of_task_is_recorded_as_the_failed_task_rule():
    rule = ImprovementRule(metric="auc", better="higher")
    decision = decide(
        {"auc": 0.9},
        Champion("1", {"auc": 0.77}),
        GateSettings(improvement=rule),
        task_change="other label",
    )
    tags = model_tags(
        commit="c0ffee", dirty=False, data_asset="young:abc", run_id="r2",
        digest="cd" * 32, metrics={"auc": 0.9}, decision=decision,
    )  # fmt: skip
    assert tags["mlops.gate_failed"] == "task"
