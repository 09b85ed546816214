from pathlib import Path

import pytest
import yaml

from mlops.settings import SettingsError, load_settings
from tests.conftest import REPO, edit_model, model_file, write_settings


def test_the_repository_settings_load_and_resolve_paths_against_the_file():
    settings = load_settings(REPO / "mlops.yml", model="credit-default")
    assert settings.target == "local"
    assert settings.kind == "binary-classification"
    assert settings.data.target_column == "default_payment_next_month"
    assert settings.data_source() == REPO / "data/credit-default/credit_default.csv"
    assert settings.pipeline.file == Path("pipelines/train.yml")  # the fork's, by default
    assert settings.resolve(settings.pipeline.metrics) == (
        REPO / "pipelines/src/metrics/binary-classification.json"
    )


def test_every_model_of_the_repository_loads_with_its_own_endpoint_and_ports():
    ports, endpoints = set(), set()
    for name in ("credit-default", "wine-cultivar", "diabetes-progression"):
        for env in (None, "dev", "staging", "prod"):
            settings = load_settings(REPO / "mlops.yml", env=env, model=name)
            ports.add(settings.endpoint_port())
            endpoints.add((env, settings.endpoint.name))
            assert settings.state_folder().parts[-2:] == ("models", name)
    assert len(ports) == len(endpoints) == 12


def test_a_fork_of_several_models_says_which_there_are_when_none_is_picked(monkeypatch):
    monkeypatch.delenv("MLOPS_MODEL", raising=False)
    with pytest.raises(SettingsError) as error:
        load_settings(REPO / "mlops.yml")
    models = "credit-default, diabetes-progression, number-words, wine-cultivar"
    assert models in str(error.value)
    assert "--model NAME or MLOPS_MODEL=NAME" in str(error.value)
    monkeypatch.setenv("MLOPS_MODEL", "wine-cultivar")
    assert load_settings(REPO / "mlops.yml").kind == "multiclass-classification"


def test_a_model_that_does_not_exist_is_named_with_the_models_there_are(tmp_path):
    path = write_settings(tmp_path)
    with pytest.raises(SettingsError, match="no model 'churn' .*the models are: credit-default"):
        load_settings(path, model="churn")
    assert load_settings(path).model_id == "credit-default"  # the one model: the default


def test_model_keys_left_in_the_fork_file_say_where_they_go(tmp_path):
    path = write_settings(tmp_path)
    text = path.read_text() + "gate: {}\n"
    path.write_text(text)
    with pytest.raises(SettingsError, match="gate: a model's keys, not the fork's; move them"):
        load_settings(path)


def test_fork_keys_in_a_model_file_say_where_they_go(tmp_path):
    path = write_settings(tmp_path)
    edit_model(tmp_path, state_dir="elsewhere")
    with pytest.raises(SettingsError, match="state_dir: the fork's keys, not a model's"):
        load_settings(path)


def test_a_second_model_may_not_take_the_first_ones_endpoint_or_ports(tmp_path):
    path = write_settings(tmp_path)
    write_settings(tmp_path, as_model="second", endpoint={"port_offset": 10})
    with pytest.raises(SettingsError) as error:
        load_settings(path, model="second")
    assert str(error.value).startswith(f"{model_file(tmp_path, 'second')}: endpoint.name:")
    assert "is model credit-default's too" in str(error.value)
    edit_model(tmp_path, "second", endpoint={"name": "second", "port_offset": 1})
    edit_model(tmp_path, "second", model={"name": "second"}, pipeline={"experiment_name": "s"})
    with pytest.raises(SettingsError, match="port_offset: 1 gives port 5051, which model cred"):
        load_settings(path, model="second")
    edit_model(tmp_path, "second", endpoint={"port_offset": 10})
    assert load_settings(path, model="second", env="dev").endpoint_port() == 5061


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("regression", "data.positive_class: a regression model has no positive class"),
        ("forecasting", "kind: Value error, no kind 'forecasting'; the kinds are binary"),
    ],
)
def test_a_kind_is_checked_with_what_it_implies(tmp_path, kind, message):
    path = write_settings(tmp_path, kind=kind)
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    assert message.replace("Value error, ", "") in str(error.value)


def test_a_model_without_a_gate_takes_its_kinds_default(tmp_path):
    path = write_settings(tmp_path, kind="regression")
    edit_model(tmp_path, data={"positive_class": None, "sensitive_column": None})
    own = yaml.safe_load(model_file(tmp_path).read_text())
    del own["gate"]
    model_file(tmp_path).write_text(yaml.safe_dump(own))
    settings = load_settings(path)
    assert [rule.metric for rule in settings.gate.thresholds] == ["r2"]
    assert settings.gate.improvement.metric == "rmse" and not settings.gate.fairness
    assert settings.resolve(settings.pipeline.metrics).name == "regression.json"


def test_the_forks_defaults_apply_unless_the_model_sets_its_own(tmp_path):
    path = write_settings(tmp_path, defaults={"pipeline": {"seed": 7, "test_size": 0.3}})
    assert load_settings(path).pipeline.seed == 7
    edit_model(tmp_path, pipeline={"seed": 9})
    assert (load_settings(path).pipeline.seed, load_settings(path).pipeline.test_size) == (9, 0.3)


def test_a_numeric_positive_class_is_read_as_text(tmp_path):
    path = write_settings(tmp_path, data={"positive_class": 1})
    assert load_settings(path).data.positive_class == "1"


@pytest.mark.parametrize(
    ("written", "read"),
    [("yes", "yes"), ("Y", "Y"), ("no", "no"), ("on", "on"), ("true", "true"), ("False", "false")],
)
def test_a_positive_class_written_bare_is_read_as_written(tmp_path, written, read):
    # YAML 1.1 would read yes, no and on as booleans; a label is compared as text.
    path = write_settings(tmp_path)
    text = (
        model_file(tmp_path)
        .read_text()
        .replace("positive_class: '1'", f"positive_class: {written}")
    )
    model_file(tmp_path).write_text(text)
    assert load_settings(path).data.positive_class == read


def test_the_sensitive_column_may_be_left_out_when_no_rule_judges_fairness(tmp_path):
    path = write_settings(tmp_path, gate={"fairness": []})
    own = yaml.safe_load(model_file(tmp_path).read_text())
    del own["data"]["sensitive_column"]
    model_file(tmp_path).write_text(yaml.safe_dump(own))
    assert load_settings(path).data.sensitive_column is None


def test_fairness_rules_without_a_sensitive_column_name_both_keys(tmp_path):
    path = write_settings(tmp_path, data={"sensitive_column": None})
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    assert str(error.value) == (
        f"{model_file(tmp_path)}: gate.fairness: fairness rules need data.sensitive_column, "
        "the column whose groups they compare; set data.sensitive_column or remove gate.fairness"
    )


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"target": "gcp"}, "target"),
        ({"data": {"target_column": ""}}, "data.target_column"),
        ({"data": {"asset_name": "has spaces"}}, "data.asset_name"),
        ({"data": {"colour": "blue"}}, "data.colour"),
        ({"pipeline": {"test_size": 1.5}}, "pipeline.test_size"),
        ({"model": {"name": None}}, "model.name"),
        ({"endpoint": {"name": "x"}}, "endpoint.name"),
        ({"endpoint": {"name": "9starts-with-a-digit"}}, "endpoint.name"),
        ({"local": {"endpoint_port": 80}}, "local.endpoint_port"),
        ({"gate": {"thresholds": [{"metric": "auc", "min": 0.7}]}}, "gate.thresholds.0.better"),
        (
            {"gate": {"thresholds": [{"metric": "auc", "better": "up", "min": 0.7}]}},
            "gate.thresholds.0.better",
        ),
        (
            {"gate": {"improvement": {"metric": "auc", "better": "higher", "min_delta": -1}}},
            "gate.improvement.min_delta",
        ),
        (
            {"gate": {"plausibility": [{"metric": "auc", "better": "higher"}]}},
            "gate.plausibility.0.implausible_at",
        ),
        ({"gate": {"plausibility": None}}, "gate.plausibility"),
        ({"monitor": {"sampling_rate": 0}}, "monitor.sampling_rate"),
        ({"monitor": {"sampling_rate": 1.5}}, "monitor.sampling_rate"),
        ({"monitor": {"sampling": 1}}, "monitor.sampling"),
        ({"monitor": {"min_rows": 0}}, "monitor.min_rows"),
        ({"monitor": {"feature_types": {"AGE": "ordinal"}}}, "monitor.feature_types.AGE"),
        (
            {"monitor": {"data_drift": {"numerical": {"wasserstein": 0.1}}}},
            "monitor.data_drift.numerical.wasserstein.[key]",
        ),
        (
            {"monitor": {"data_drift": {"categorical": {"pearsons_chi_squared_test": 5}}}},
            "monitor.data_drift.categorical",
        ),
        (
            {
                "monitor": {
                    "prediction_drift": {"categorical": {"normalized_wasserstein_distance": 1}}
                }
            },
            "monitor.prediction_drift.categorical.normalized_wasserstein_distance.[key]",
        ),
        (
            {"monitor": {"prediction_drift": {"features": {"AGE": {}}}}},
            "monitor.prediction_drift.features",
        ),
        (
            {"monitor": {"data_quality": {"numerical": {"null_value_rate": -0.1}}}},
            "monitor.data_quality.numerical.null_value_rate",
        ),
    ],
)
def test_an_invalid_key_is_named_in_the_error(tmp_path, change, key):
    path = write_settings(tmp_path, **change)
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    where = path if key.split(".")[0] in ("target", "local") else model_file(tmp_path)
    assert str(error.value).startswith(f"{where}: {key}:")


@pytest.mark.parametrize("section", ["data", "kind"])
def test_a_missing_section_is_named(tmp_path, section):
    write_settings(tmp_path)
    own = yaml.safe_load(model_file(tmp_path).read_text())
    del own[section]
    model_file(tmp_path).write_text(yaml.safe_dump(own))
    with pytest.raises(SettingsError, match=f"{section}: required key is missing"):
        load_settings(tmp_path / "mlops.yml")


def test_the_sensitive_column_cannot_be_a_feature(tmp_path):
    path = write_settings(tmp_path, data={"features": {"include": ["AGE", "SEX"]}})
    with pytest.raises(SettingsError, match=r"data: features.include names SEX"):
        load_settings(path)


def test_the_target_cannot_be_the_sensitive_column(tmp_path):
    path = write_settings(tmp_path, data={"sensitive_column": "default_payment_next_month"})
    with pytest.raises(SettingsError, match="must be different columns"):
        load_settings(path)


def test_a_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(SettingsError, match="settings file not found .*--settings"):
        load_settings(tmp_path / "nowhere.yml")


@pytest.mark.parametrize("text", ["- a list\n- not a mapping\n", "key: [unclosed\n"])
def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path, text):
    path = tmp_path / "mlops.yml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=str(path)):
        load_settings(path)


def test_the_environment_overrides_the_target(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_TARGET", "azure")
    assert load_settings(write_settings(tmp_path)).target == "azure"


def test_paths_are_relative_to_the_settings_file_not_the_working_directory(tmp_path, monkeypatch):
    path = write_settings(tmp_path)
    monkeypatch.chdir(Path("/"))
    settings = load_settings(path)
    assert settings.resolve(settings.state_dir) == tmp_path / ".mlops"


@pytest.mark.parametrize("bounds", [{}, {"min": 0.1, "max": 0.2}], ids=["none", "both"])
def test_a_threshold_rule_has_exactly_one_bound(tmp_path, bounds):
    rule = {"metric": "log_loss", "better": "lower", **bounds}
    path = write_settings(tmp_path, gate={"fairness": [rule]})
    with pytest.raises(SettingsError, match="gate.fairness.0: rule for log_loss: give exactly one"):
        load_settings(path)


def test_the_repository_gate_names_a_direction_for_every_rule():
    gate = load_settings(REPO / "mlops.yml", model="credit-default").gate
    rules = [*gate.thresholds, *gate.fairness, gate.improvement]
    assert {rule.metric for rule in gate.fairness} == {
        "demographic_parity_difference",
        "equalized_odds_difference",
    }
    assert all(rule.better in {"higher", "lower"} for rule in rules)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"metric": "log_loss", "better": "lower", "min": 0.3},
            "better: lower takes a ceiling (max), not min",
        ),
        ({"metric": "auc", "better": "higher", "max": 0.9}, "better: higher takes a floor (min)"),
    ],
    ids=["floor-on-lower", "ceiling-on-higher"],
)
def test_a_bound_that_contradicts_its_direction_is_refused(tmp_path, rule, message):
    path = write_settings(tmp_path, gate={"thresholds": [{**rule}]})
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    where = model_file(tmp_path)
    assert str(error.value).startswith(f"{where}: gate.thresholds.0: rule for {rule['metric']}")
    assert message in str(error.value)


def test_an_empty_gate_is_refused_before_it_can_promote_nothing(tmp_path):
    path = write_settings(tmp_path, gate={"thresholds": [], "fairness": [], "improvement": None})
    with pytest.raises(SettingsError, match="gate: the gate has no rules"):
        load_settings(path)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_numpy_and_scikit_learn_refuse_is_a_settings_error(tmp_path, seed):
    path = write_settings(tmp_path, pipeline={"seed": seed})
    with pytest.raises(SettingsError, match=r"pipeline\.seed: Input should be"):
        load_settings(path)


def test_a_state_dir_left_under_local_says_where_it_moved(tmp_path):
    path = write_settings(tmp_path, local={"state_dir": "elsewhere"})
    moved = "local.state_dir: this key is now the top-level key state_dir"
    with pytest.raises(SettingsError, match=moved):
        load_settings(path)


def test_the_azure_section_is_checked_like_the_others(tmp_path):
    assert load_settings(write_settings(tmp_path)).azure.job_timeout_minutes == 120
    path = write_settings(tmp_path, azure={"instance_count": 0})
    with pytest.raises(SettingsError, match="azure.instance_count: "):
        load_settings(path)


@pytest.mark.parametrize("name", ["../../../../../tmp/x", "a/b", ".hidden", "", "tab\tname"])
def test_an_environment_name_that_is_not_a_folder_name_is_refused(tmp_path, monkeypatch, name):
    # Each environment keeps its state in state_dir/envs/<name>: a path there
    # would write outside the state folder.
    path = write_settings(tmp_path, environments={name: {"endpoint_port": 5099}})
    monkeypatch.setenv("MLOPS_ENV", name)
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    assert str(error.value).startswith(f"{path}: environments: {name!r} is not an environment name")


def test_environment_names_like_the_stacks_pass(tmp_path):
    path = write_settings(tmp_path, environments={"dev-2": {"endpoint_port": 5099}})
    settings = load_settings(path, env="dev-2")
    assert settings.state_folder() == (
        tmp_path / ".mlops" / "envs" / "dev-2" / "models" / "credit-default"
    )


def test_a_plausibility_bound_that_leaves_no_passing_model_is_refused(tmp_path):
    too_low = [{"metric": "auc", "better": "higher", "implausible_at": 0.6}]
    path = write_settings(tmp_path, gate={"plausibility": too_low})
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    assert str(error.value) == (
        f"{model_file(tmp_path)}: gate: plausibility.0.implausible_at: 0.6 leaves no auc that "
        "passes thresholds.0 (auc >= 0.7) too; put the plausibility bound beyond the threshold"
    )


def test_a_list_key_given_something_else_says_it_wants_a_list(tmp_path):
    path = write_settings(tmp_path, gate={"plausibility": {"metric": "auc"}})
    with pytest.raises(SettingsError, match="gate.plausibility: expected a list"):
        load_settings(path)
