"""Gate reports: JSON, Markdown for a job summary or PR comment, and the picture."""

import json
import math

import pytest

from mlops.gate import Champion, decide
from mlops.reports import GateReport, report_markdown, write_gate_report
from mlops.settings import GateSettings, ImprovementRule, ThresholdRule
from mlops.state_files import StateFileError

CURVES = {
    "roc": {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]},
    "groups": {"1": {"selection_rate": 0.15}, "2": {"selection_rate": 0.11}},
}


def report(candidate, champion=None, **extra) -> GateReport:
    rules = GateSettings(
        thresholds=(ThresholdRule(metric="auc", better="higher", min=0.7),),
        improvement=ImprovementRule(metric="auc", better="higher", min_delta=0.001),
    )
    return GateReport(
        decision=decide(candidate, champion, rules),
        run_id="20261123-000000-abcdef",
        data_asset="credit-default:0123456789ab",
        candidate_metrics=candidate,
        champion=champion,
        endpoint="credit-default",
        **extra,
    )


def test_the_markdown_has_a_row_per_rule_and_says_why_it_rejects():
    text = report_markdown(report({"auc": 0.76}, Champion("4", {"auc": 0.77})))
    assert text.startswith("### Promotion gate: **REJECT**")
    assert "champion: version 4, serving on endpoint `credit-default`" in text
    assert "| threshold | auc | higher | 0.7600 | 0.7700 | >= 0.7 | pass |" in text
    assert (
        "| improvement | auc | higher | 0.7600 | 0.7700 | >= champion + 0.001 | **fail** |" in text
    )
    assert "- auc 0.7600 vs champion 0.7700 (-0.0100): not higher by 0.001" in text


def explanations(*features: tuple[str, float]) -> dict:
    return {
        "method": "permutation_importance",
        "scoring": "roc_auc",
        "repeats": 5,
        "rows": 250,
        "features": [{"feature": name, "mean": mean, "std": 0.01} for name, mean in features],
    }


def test_the_report_shows_the_top_features_of_the_candidate_beside_the_champions():
    candidate = explanations(*[(f"c{i}", 0.1 - i / 100) for i in range(7)])
    text = report_markdown(
        report(
            {"auc": 0.8},
            Champion("4", {"auc": 0.75}),
            candidate_explanations=candidate,
            champion_explanations=explanations(("PAY_0", 0.07), ("AGE", 0.01)),
        )
    )

    assert "permutation importance (roc_auc" in text and "5 shuffles of 250 test rows" in text
    assert "| # | candidate | importance | champion v4 | importance |" in text
    assert "| 1 | c0 | 0.1000 ± 0.0100 | PAY_0 | 0.0700 ± 0.0100 |" in text
    assert "| 3 | c2 | 0.0800 ± 0.0100 |  |  |" in text
    assert "| 5 | c4 |" in text and "| 6 |" not in text  # the top five only


def test_without_the_champions_importances_the_report_says_why_they_are_missing():
    shown = report_markdown(
        report(
            {"auc": 0.8},
            Champion("4", {"auc": 0.75}),
            candidate_explanations=explanations(("PAY_0", 0.07)),
        )
    )

    table = "| # | candidate | importance |\n|---:|---|---:|\n| 1 | PAY_0 | 0.0700 ± 0.0100 |\n"
    assert table in shown
    assert "The champion's importances are unknown here" in shown
    assert "What the models rely on" not in report_markdown(report({"auc": 0.8}))


def test_the_candidates_shap_values_are_shown_when_its_evaluate_step_computed_them():
    shap = {"scale": "log-odds of the positive class", "rows": 80}
    explained = explanations(("PAY_0", 0.07))
    features = [{"feature": f"f{i}", "mean_abs": 0.5 / (i + 1)} for i in range(7)]

    shown = report_markdown(
        report(
            {"auc": 0.8},
            candidate_explanations={**explained, "shap": {**shap, "features": features}},
        )
    )
    skipped = report_markdown(
        report(
            {"auc": 0.8},
            candidate_explanations={**explained, "shap": {**shap, "skipped": "it splits on x"}},
        )
    )

    line = (
        "The candidate's SHAP values (mean |value| on the log-odds of the positive class, "
        "80 test rows): f0 0.5, f1 0.25, f2 0.1667, f3 0.125, f4 0.1."
    )
    assert line in shown
    assert "The candidate's SHAP values: none, it splits on x." in skipped
    assert "SHAP" not in report_markdown(report({"auc": 0.8}, candidate_explanations=explained))


def test_the_files_are_written_and_the_job_summary_appended(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    written = write_gate_report(
        tmp_path / "out",
        report(
            {"auc": 0.8},
            Champion("1", {"auc": 0.75}),
            candidate_curves=CURVES,
            champion_curves=CURVES,
        ),
    )
    assert set(written) == {"json", "markdown", "picture"}
    assert written["picture"].read_bytes().startswith(b"\x89PNG")
    assert "![ROC curves and per-group rates](gate.png)" in written["markdown"].read_text()
    document = json.loads(written["json"].read_text())
    assert document["verdict"] == "promote"
    assert document["champion"] == {
        "version": "1",
        "metrics": {"auc": 0.75},
        "problem": None,
        "note": None,
    }
    assert summary.read_text().startswith("earlier step\n### Promotion gate: **PROMOTE**")


def test_a_nan_metric_is_written_as_valid_json(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    written = write_gate_report(tmp_path, report({"auc": math.nan}))
    document = json.loads(written["json"].read_text())  # strict JSON: no bare NaN
    assert document["verdict"] == "reject"
    assert document["candidate"]["metrics"]["auc"] == "nan"
    assert "picture" not in written


@pytest.mark.parametrize("name", ["gate.json", "gate.md", "gate.png"])
def test_a_report_file_that_is_a_link_is_refused_and_what_it_points_to_kept(
    tmp_path, monkeypatch, name
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    outside = tmp_path / "outside.txt"
    outside.write_text("not mlops's\n")
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / name).symlink_to(outside)
    with pytest.raises(StateFileError) as error:
        write_gate_report(folder, report({"auc": 0.8}, None, candidate_curves=CURVES))
    assert str(error.value).startswith(f"{folder / name}: a symbolic link where mlops keeps")
    assert outside.read_text() == "not mlops's\n"
