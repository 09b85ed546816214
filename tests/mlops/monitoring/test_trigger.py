"""What a retraining started by a breach records, from the monitor reports handed to it."""

import json

import pytest

from mlops.errors import UserError
from mlops.monitoring.trigger import TAG_LENGTH, breached_reports, trigger_tags

NAME = "credit-default-classifier"


def report(folder, environment, model=f"{NAME}:3", breached=("AGE",)):
    folder.mkdir(parents=True)
    data = {
        "model_folder": "credit-default",
        "environment": environment,
        "deployment": "blue",
        "model": model,
        "breach": bool(breached),
        "breached_features": list(breached),
        "window": ["2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"],
    }
    (folder / "monitor.json").write_text(json.dumps(data))


def test_the_breached_reports_of_the_model_are_taken_and_described_in_one_tag(tmp_path):
    report(tmp_path / "monitor-credit-default-prod", "prod", breached=("AGE", "LIMIT_BAL"))
    report(tmp_path / "monitor-credit-default-dev", "dev")
    report(tmp_path / "monitor-credit-default-staging", "staging", breached=())
    report(tmp_path / "monitor-credit-other-dev", "dev", model="credit-other:1")

    found = breached_reports(tmp_path, NAME)

    assert [r.environment for r in found] == ["dev", "prod"]
    assert found[1].folder == tmp_path / "monitor-credit-default-prod"
    tags = trigger_tags(found)
    assert tags == {
        "mlops.trigger": "drift",
        "mlops.trigger_report": (
            f"dev blue ({NAME}:3): breach on AGE in 2026-12-01T00:00:00Z .. "
            f"2026-12-02T00:00:00Z; prod blue ({NAME}:3): breach on AGE, LIMIT_BAL in "
            "2026-12-01T00:00:00Z .. 2026-12-02T00:00:00Z"
        ),
    }


def test_a_long_description_is_cut_to_what_a_tag_holds(tmp_path):
    report(tmp_path / "a", "dev", breached=tuple(f"feature_{n}" for n in range(100)))
    text = trigger_tags(breached_reports(tmp_path, NAME))["mlops.trigger_report"]
    assert len(text) == TAG_LENGTH and text.endswith("...")


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda root: None, "no such file or folder"),
        (lambda root: report(root / "r", "dev", breached=()), "no monitor report of model"),
        (lambda root: report(root / "r", "dev", model="other:1"), "no monitor report of model"),
        (
            lambda root: (
                (root / "r").mkdir(parents=True)
                or (root / "r" / "monitor.json").write_text("{not json")
            ),
            "not a monitor report",
        ),
    ],
)
def test_nothing_to_retrain_for_is_refused_naming_the_path(tmp_path, make, said):
    make(tmp_path / "given")
    with pytest.raises(UserError, match="--drift-report .*given") as refused:
        breached_reports(tmp_path / "given", NAME)
    assert said in str(refused.value)
