"""`mlops reproduce`: version 1 of the sample rebuilt from its lineage is the same
model; a training parameter or the data file changed in between is told apart, and
a tree at another commit is refused naming the commit."""

from mlops.cli import main
from mlops.settings import load_settings
from mlops.targets import get_target
from tests.conftest import STATE
from tests.mlops.test_cli import one_line_error
from tests.mlops.test_lineage import git

TRAIN_INPUTS = "      seed: ${{parent.inputs.seed}}\n    outputs:\n      model:"


def test_version_1_reproduces_and_a_changed_parameter_or_data_file_is_different(
    trained, capsys, monkeypatch
):
    monkeypatch.chdir(trained)
    (trained / ".gitignore").write_text(".mlops/\n")
    git(trained, "init", "-q")
    git(trained, "add", ".")
    git(trained, "commit", "-q", "-m", "the sample")
    commit = git(trained, "rev-parse", "HEAD")
    assert main(["register", "latest"]) == 0
    capsys.readouterr()

    assert main(["reproduce", "1"]) == 0
    out = capsys.readouterr().out
    # Metrics to the last bit and the same model; the bytes differ only where the
    # formats stamp the save (and the report says so).
    assert "reproduce: REPRODUCED, BYTES DIFFER" in out
    assert "bytes differ only in what the formats record of the save: MLmodel, model.skops" in out
    assert "auc" in out and "DIFFERENT" not in out
    runs = get_target(load_settings(trained / "mlops.yml")).list_runs()
    assert len(runs) == 2  # a run of its own, every step again ...
    assert len(get_target(load_settings(trained / "mlops.yml")).list_models()) == 1  # ... no model

    # A training parameter changed since (not committed): a different model.
    pipeline = trained / "pipelines" / "train.yml"
    original = pipeline.read_text()
    assert original.count(TRAIN_INPUTS) == 1
    pipeline.write_text(original.replace(TRAIN_INPUTS, TRAIN_INPUTS.replace(
        "    outputs:", "      max_iter: 7\n    outputs:")))  # fmt: skip
    assert main(["reproduce", "1"]) == 5
    out = capsys.readouterr().out
    assert "note: the working tree has uncommitted changes" in out
    assert "metric auc:" in out and "reproduce: DIFFERENT" in out
    pipeline.write_text(original)

    # The kept copy of the data version changed: told before anything runs.
    (kept,) = (trained / STATE / "data").rglob("*.csv")
    kept.write_bytes(kept.read_bytes() + b"1,2,3\n")
    assert main(["reproduce", "1"]) == 5
    assert "no longer has the SHA-256 it was registered with" in capsys.readouterr().out

    # Another commit checked out: refused, naming the version's.
    (trained / "NOTES.md").write_text("later\n")
    git(trained, "add", ".")
    git(trained, "commit", "-q", "-m", "later")
    assert main(["reproduce", "1"]) == 1
    assert f"run `git checkout {commit}`" in one_line_error(capsys)
