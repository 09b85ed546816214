"""The gate's rules checked against the metrics the evaluate step writes."""

import json

import pytest

from mlops.metric_catalog import check_settings, load_catalog
from mlops.settings import SettingsError, load_settings
from tests.conftest import REPO, write_settings

AUC = {"metric": "auc", "better": "higher", "min": 0.7}


def test_the_repository_gate_judges_only_metrics_the_pipeline_writes():
    check_settings(load_settings(REPO / "mlops.yml"))


def test_the_catalogue_lists_the_metrics_in_order_with_their_direction():
    catalog = load_catalog(REPO / "pipelines" / "src" / "metric_catalog.json")
    assert list(catalog)[:2] == ["auc", "accuracy"]
    assert catalog["log_loss"] == "lower" and catalog["auc"] == "higher"
    assert catalog["test_rows"] is None


def settings_with(tmp_path, **gate):
    path = write_settings(
        tmp_path,
        pipeline={"metrics": str(REPO / "pipelines" / "src" / "metric_catalog.json")},
        gate={"thresholds": [AUC], "fairness": [], "improvement": None, **gate},
    )
    return path, load_settings(path)


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            {"thresholds": [AUC, {"metric": "aucc", "better": "higher", "min": 0.7}]},
            "gate.thresholds.1.metric: the evaluate step writes no metric 'aucc' (it writes: auc, "
            "accuracy",
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
    assert str(error.value).startswith(f"{path}: ")
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


def test_the_catalogue_is_the_one_the_evaluate_step_reads():
    import evaluate

    assert evaluate.CATALOG == REPO / "pipelines" / "src" / "metric_catalog.json"
    assert json.loads(evaluate.CATALOG.read_text()).keys() == load_catalog(evaluate.CATALOG).keys()


def test_a_threshold_on_a_fairness_metric_without_a_sensitive_column_names_both_keys(tmp_path):
    rule = {"metric": "equalized_odds_difference", "better": "lower", "max": 0.1}
    path = write_settings(
        tmp_path,
        data={"sensitive_column": None},
        pipeline={"metrics": str(REPO / "pipelines" / "src" / "metric_catalog.json")},
        gate={"thresholds": [AUC, rule], "fairness": [], "improvement": None},
    )
    with pytest.raises(SettingsError) as error:
        check_settings(load_settings(path))
    assert str(error.value) == (
        f"{path}: gate.thresholds.1.metric: equalized_odds_difference is measured between the "
        "groups of data.sensitive_column, which is not set; set data.sensitive_column or "
        "remove the rule"
    )
