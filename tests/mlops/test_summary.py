"""The terminal views of what a command did."""

from mlops.gate import decide
from mlops.outcome import Outcome
from mlops.settings import GateSettings, ThresholdRule
from mlops.summary import describe_outcome, describe_run
from mlops.targets.base import DataAsset, ModelVersion, PipelineRun

ASSET = DataAsset("credit", "abc", "/tmp/x.csv", "ab" * 32, 10, ("a",), "2026-12-03")
RUN = PipelineRun(
    "r1", "Completed", "credit:abc", "2026-12-03", 1.0, metrics={"auc": 0.6, "test_rows": 599.0}
)
MODEL = ModelVersion("m", "1", "/tmp/m", {}, "2026-12-03")
FLOOR = GateSettings(thresholds=(ThresholdRule(metric="auc", better="higher", min=0.7),))


def test_a_first_model_the_gate_rejects_says_nothing_serves_yet():
    decision = decide(RUN.metrics, None, FLOOR)
    text = describe_outcome(Outcome(ASSET, RUN, MODEL, decision), request_file=ASSET.path)
    assert "model m:1 registered, not deployed: the gate rejected it; no model serves yet" in text
    assert "champion" not in text.rsplit("\n\n", 1)[-1]


def test_counts_are_shown_as_the_whole_numbers_they_are():
    text = describe_run(RUN, counts={"test_rows"})
    assert "test_rows  599\n" in text + "\n" and "auc        0.6000" in text
