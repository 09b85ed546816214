"""The same verbs on both targets leave equivalent state and print the same summary."""

from __future__ import annotations

from mlops import lifecycle, summary
from mlops.targets.base import DEPLOYED_TAG


def test_the_same_sequence_of_verbs_leaves_equivalent_state_on_both_targets(workspace, local_run):
    azure = workspace.target()
    on_azure = lifecycle.run(azure, workspace.settings, lambda line: None)
    local, settings = local_run.target, local_run.settings
    asset = lifecycle.register_data(local, settings)
    model, decision, _ = lifecycle.register(local, settings, local_run.run.run_id)

    # One data version for the same bytes.
    assert on_azure.asset.version == asset.version
    assert (
        summary.describe_asset(on_azure.asset)
        .split(" (")[0]
        .replace("registered", "already registered")
        == summary.describe_asset(asset).split(" (")[0]
    )
    # Models carry the same lineage tags (a deploy adds when it took the traffic).
    lineage = set(on_azure.model.tags) - {DEPLOYED_TAG}
    assert lineage == set(model.tags)
    assert on_azure.model.tags["mlops.gate"] == model.tags["mlops.gate"] == "promote"
    # The same metrics give the same decision, printed the same way.
    assert on_azure.run.metrics == local_run.run.metrics
    assert summary.describe_decision(on_azure.decision) == summary.describe_decision(decision)
    # The run's summary differs only in its id, times and data path.
    assert [s.name for s in on_azure.run.steps] == [s.name for s in local_run.run.steps]
    assert [s.status for s in on_azure.run.steps] == ["Completed"] * 3
    assert (
        summary.describe_run(on_azure.run).split("\n\n")[2:]
        == summary.describe_run(local_run.run).split("\n\n")[2:]
    )
