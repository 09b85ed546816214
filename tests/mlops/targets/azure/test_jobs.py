"""What a pipeline job on Azure prints: the service's own status words and the
times Azure recorded, in the lines `mlops train` streams, its closing summary,
`mlops show` and the `mlops runs` table."""

from __future__ import annotations

import pytest

from mlops import lifecycle, summary
from tests.mlops.targets.azure.fake_azureml import JobOutcome

# How long each step runs on the cluster; each first waits QUEUED seconds for a node.
STEP_SECONDS = {"prep": 12.5, "train": 75.0, "evaluate": 8.0}
QUEUED = 4.0
# ending -> (what happens, the step table as printed, the job's seconds)
ENDINGS = {
    "Completed": (
        {},
        [
            ["prep", "Completed", "12.5"],
            ["train", "Completed", "75.0"],
            ["evaluate", "Completed", "8.0"],
        ],
        "107.5",
    ),
    "Failed": (
        {"failed_step": "train", "error": "ValueError: the target column has one class"},
        [
            ["prep", "Completed", "12.5"],
            ["train", "Failed", "75.0"],
            ["evaluate", "NotStarted", "0.0"],
        ],
        "95.5",
    ),
    # Canceled by someone else (in the studio, say) while train runs.
    "Canceled": (
        {"canceled_step": "train"},
        [
            ["prep", "Completed", "12.5"],
            ["train", "Canceled", "75.0"],
            ["evaluate", "NotStarted", "0.0"],
        ],
        "95.5",
    ),
}
MARKS = {"Completed": "completed", "Failed": "failed", "Canceled": "canceled"}


def step_table(text: str) -> list[list[str]]:
    """The rows of the step table of ``summary.describe_run``."""
    return [line.split() for line in text.split("\n\n")[1].splitlines()[2:]]


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_run_prints_azures_own_status_and_the_times_azure_recorded(workspace, local_run, ending):
    change, steps, seconds = ENDINGS[ending]
    workspace.fake.executor = lambda name, body: JobOutcome(
        outputs=dict(local_run.outputs), step_seconds=STEP_SECONDS, queued_seconds=QUEUED, **change
    )
    target = workspace.target()
    asset = lifecycle.register_data(target, workspace.settings)
    printed: list[str] = []

    run = lifecycle.train(target, workspace.settings, printed.append)

    # The lines streamed while it runs: each step's time on the cluster, not its wait.
    ended = [line for line in printed if line.startswith("[") and " in " in line]
    assert ended == [
        f"[{i}/3] {step} {MARKS[status]} in {took} s"
        for i, (step, status, took) in enumerate(steps, start=1)
        if status != "NotStarted"
    ]
    # The closing summary: Azure's word, the job's time as Azure recorded it, each step's.
    text = summary.describe_run(run)
    assert text.splitlines()[0] == f"run {run.run_id}: {ending} in {seconds} s on data {asset.ref}"
    assert step_table(text) == steps
    if ending == "Canceled":
        assert run.error.startswith(f"job {run.run_id} ended Canceled (see https://")
    # `mlops show` reads the same record back, and `mlops runs` lists it the same way.
    shown = summary.describe_run(target.get_run(run.run_id))
    assert shown.split("\n\n")[:2] == text.split("\n\n")[:2]
    (row,) = summary.describe_runs(target.list_runs()).splitlines()[2:]
    assert row.split()[:4] == [run.run_id, ending, asset.ref, seconds]
