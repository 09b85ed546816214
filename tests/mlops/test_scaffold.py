"""`mlops new-model`: a model folder a fork then edits."""

import pytest
import yaml

from mlops.scaffold import new_model
from mlops.settings import MODEL_KEYS, SettingsError, load_fork, load_settings
from tests.conftest import model_file, write_settings


@pytest.fixture
def fork(tmp_path):
    return load_fork(write_settings(tmp_path))


@pytest.mark.parametrize(
    ("kind", "gated"),
    [
        ("binary-classification", ["auc", "log_loss"]),
        ("multiclass-classification", ["accuracy", "f1_macro"]),
        ("regression", ["r2"]),
        ("text-generation", ["perplexity", "token_f1"]),
    ],
)
def test_a_new_model_of_each_kind_loads_with_its_kinds_gate_and_ports_of_its_own(fork, kind, gated):
    path = new_model(fork, "churn", kind)
    assert path == model_file(fork.root, "churn")
    settings = load_settings(fork.source, model="churn", env="dev")
    assert settings.kind == kind
    assert [rule.metric for rule in settings.gate.thresholds] == gated
    assert (settings.endpoint.name, settings.model.name) == ("churn", "churn")
    assert settings.endpoint_port() == 5061  # the sample model takes offset 0
    text = path.read_text()
    assert all(line.startswith("#") for line in text.splitlines()[:4])
    assert ("positive_class" in text) == (kind == "binary-classification")
    # Every section a model of the kind may hold is there to edit.
    sections = {line.split(":")[0] for line in text.splitlines() if line[:1].isalpha()}
    fine_tuned = kind == "text-generation"
    assert sections == set(MODEL_KEYS) - ({"monitor"} if fine_tuned else {"finetune"})


def test_from_an_existing_model_it_takes_the_data_and_columns(fork):
    new_model(fork, "young", "binary-classification", "credit-default")
    data = yaml.safe_load(model_file(fork.root, "young").read_text())["data"]
    theirs = yaml.safe_load(model_file(fork.root).read_text())["data"]
    assert data["target_column"] == theirs["target_column"]
    assert data["sensitive_column"] == "SEX"
    assert load_settings(fork.source, model="young").data_source() == (
        load_settings(fork.source, model="credit-default").data_source()
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("credit-default", "exists already"),
        ("Churn Model", "is not a model name"),
        ("x", "is not a model name"),
    ],
)
def test_a_taken_or_invalid_name_writes_nothing(fork, name, message):
    before = sorted(fork.root.rglob("*"))
    with pytest.raises(SettingsError, match=message):
        new_model(fork, name, "regression")
    assert sorted(fork.root.rglob("*")) == before
