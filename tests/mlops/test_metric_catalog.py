"""The gate's rules checked against the metrics the evaluate step writes."""

import json

import pytest

from mlops.metric_catalog import check_settings, load_catalog
from mlops.settings import SettingsError, load_settings
from tests.conftest import REPO, model_file, write_settings

AUC = {"metric": "auc", "better": "higher", "min": 0.7}
CATALOGS = REPO / "pipelines" / "src" / "metrics"
BINARY = CATALOGS / "binary-classification.json"


def test_the_repository_gate_judges_only_metrics_the_pipeline_writes():
    check_settings(load_settings(REPO / "mlops.yml", model="credit-default"))


def test_the_catalogue_lists_the_metrics_in_order_with_their_direction():
    catalog = load_catalog(BINARY)
    assert list(catalog)[:2] == ["auc", "accuracy"]
    assert catalog["log_loss"] == "lower" and catalog["auc"] == "higher"
    assert catalog["test_rows"] is None


def settings_with(tmp_path, **gate):
    path = write_settings(
        tmp_path,
        pipeline={"metrics": str(BINARY)},
        gate={"thresholds": [AUC], "fairness": [], "improvement": None, **gate},
    )
    return path, load_settings(path)


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            {"thresholds": [AUC, {"metric": "aucc", "better": "higher", "min": 0.7}]},
            "gate.thresholds.1.metric: the evaluate step of a binary-classification model "
            "writes no metric 'aucc' (it writes: auc, accuracy",
        ),
        (
            {"fairness": [{"metric": "log_loss", "better": "higher", "min": 0.3}]},
            "gate.fairness.0.better: log_loss improves when lower, not higher",
        ),
        (
            {"improvement": {"metric": "test_rows", "better": "higher"}},
            "gate.improvement.metric: test_rows is a count",
        ),
    ],
    ids=["unknown-metric", "wrong-direction", "a-count"],
)
def test_a_rule_that_could_only_fail_after_training_names_its_key(tmp_path, gate, message):
    path, settings = settings_with(tmp_path, **gate)
    with pytest.raises(SettingsError) as error:
        check_settings(settings)
    assert str(error.value).startswith(f"{model_file(path.parent)}: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "file not found; point pipeline.metrics at it"),
        ("{not json", "not a readable JSON file"),
        ('{"auc": {"better": "up"}}', '"better" must be "higher", "lower" or null'),
    ],
)
def test_a_broken_catalogue_is_named(tmp_path, text, message):
    catalog = tmp_path / "catalog.json"
    if text is not None:
        catalog.write_text(text)
    with pytest.raises(SettingsError, match="pipeline.metrics") as error:
        load_catalog(catalog)
    assert message in str(error.value)


def test_each_kinds_catalogue_is_the_one_the_evaluate_step_reads():
    import evaluate

    from mlops.kinds import KINDS

    for kind in KINDS.values():
        assert evaluate.catalog_file(kind.name) == REPO / kind.catalog()
        catalog = evaluate.catalog_file(kind.name)
        assert json.loads(catalog.read_text()).keys() == load_catalog(catalog).keys()


def test_a_rule_on_a_metric_of_another_kind_is_refused_naming_the_kinds_metrics(tmp_path):
    path = write_settings(
        tmp_path,
        kind="regression",
        gate={"fairness": []},
        pipeline={"metrics": str(CATALOGS / "regression.json")},
    )
    own = model_file(tmp_path).read_text().replace("positive_class: '1'", "positive_class: null")
    model_file(tmp_path).write_text(own)
    with pytest.raises(SettingsError) as error:
        check_settings(load_settings(path))
    assert str(error.value) == (
        f"{model_file(tmp_path)}: gate.thresholds.0.metric: the evaluate step of a regression "
        "model writes no metric 'auc' (it writes: rmse, mae, r2, mape, mae_difference, "
        "test_rows)"
    )


def test_a_threshold_on_a_fairness_metric_without_a_sensitive_column_names_both_keys(tmp_path):
    rule = {"metric": "equalized_odds_difference", "better": "lower", "max": 0.1}
    path = write_settings(
        tmp_path,
        data={"sensitive_column": None},
        pipeline={"metrics": str(BINARY)},
        gate={"thresholds": [AUC, rule], "fairness": [], "improvement": None},
    )
    with pytest.raises(SettingsError) as error:
        check_settings(load_settings(path))
    assert str(error.value) == (
        f"{model_file(tmp_path)}: gate.thresholds.1.metric: equalized_odds_difference is "
        "measured between the groups of data.sensitive_column, which is not set; set "
        "data.sensitive_column or remove the rule"
    )
