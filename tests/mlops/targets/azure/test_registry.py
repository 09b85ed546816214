"""Promotion through the Azure ML registry: `mlops promote` in the dev workspace,
`mlops deploy registry:NAME:VERSION` in another, each through azure-ai-ml against
its own offline workspace, both sharing one offline registry."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from mlops import lifecycle, model_card
from mlops.deploy import rows_of
from mlops.lineage import model_digest
from mlops.monitoring.schedule import point_schedule
from mlops.targets.azure.registry import ASSET_TAG, RegistryError
from mlops.targets.base import ADOPTED_TAG, GATE_TAG, ModelNotFound
from tests.mlops.targets.azure.conftest import REGISTRY

MODEL = "credit-default-classifier"


def quiet(line: str) -> None:
    pass


def test_a_promoted_version_serves_the_same_bytes_in_another_workspace(
    workspace, staging, local_run
):
    dev = workspace.target()
    outcome = lifecycle.run(dev, workspace.settings, quiet)
    assert outcome.decision.promote, outcome.run.error

    promoted = lifecycle.promote(dev, workspace.settings, outcome.model.version)

    # The registry version: the gated files, their lineage, where they came from.
    assert (promoted.name, promoted.version, promoted.new) == (MODEL, "1", True)
    assert promoted.digest == outcome.model.digest == model_digest(local_run.outputs["model"])
    assert promoted.run_id == outcome.run.run_id
    assert promoted.tags[GATE_TAG] == "promote"
    assert promoted.tags["mlops.source_workspace"].startswith("workspace mlw-mlops-dev ")
    assert promoted.tags["mlops.source_version"] == outcome.model.ref
    assert promoted.tags["mlops.gate_report"].endswith("gate.md")
    (put,) = workspace.sent("PUT", rf"/registries/{REGISTRY}/models/{MODEL}/versions/1$")
    assert put.body["properties"]["modelType"] == "mlflow_model"
    # Promoting again finds the version: nothing is uploaded twice.
    again = lifecycle.promote(dev, workspace.settings, outcome.model.version)
    assert (again.version, again.new) == ("1", False)
    assert len(workspace.sent("PUT", rf"/registries/{REGISTRY}/models/")) == 1

    target = staging.target()
    printed: list[str] = []
    result = lifecycle.deploy(target, staging.settings, f"registry:{promoted.ref}", printed.append)

    # Staging's own version stands for the registry version, with the dev lineage...
    (adopted,) = target.list_models()
    assert adopted.tags[ADOPTED_TAG] == f"registry:{MODEL}:1"
    assert adopted.digest == promoted.digest
    assert adopted.run_id == outcome.run.run_id
    assert f"registry version {MODEL}:1 taken in as {adopted.ref}" in printed
    # ...and its deployment serves the registry's copy, smoke-tested with the promoted rows.
    (deployment,) = staging.sent("PUT", r"/onlineEndpoints/credit-default/deployments/[^/]+$")
    registry_model = f"azureml://registries/{REGISTRY}/models/{MODEL}/versions/1"
    assert deployment.body["properties"]["model"] == registry_model
    assert adopted.tags[ASSET_TAG] == registry_model
    smoke = [r for r in staging.fake.requests if r.path == "/score"]
    sample = target.registry_sample("1")
    assert smoke and smoke[0].content == sample
    assert len(rows_of(sample)) == staging.settings.endpoint.smoke_rows
    assert result.deployment == deployment.path.rsplit("/", 1)[1]
    assert target.get_endpoint().traffic == {result.deployment: 100}
    # The files taken in are the gated bytes.
    copy = staging.settings.state_folder() / "azure" / "registry" / MODEL / "1"
    assert model_digest(copy) == promoted.digest
    # The monitor baseline went with it: staging judges what it serves against the
    # training rows dev judges with, and so does Azure's own monitor there.
    baseline_asset = f"{MODEL}-promoted-with/versions/{promoted.digest[:30]}"
    (put_baseline,) = workspace.sent("PUT", rf"/registries/{REGISTRY}/data/{baseline_asset}$")
    assert put_baseline.body["properties"]["dataType"] == "uri_folder"
    assert promoted.tags["mlops.promoted_with"].endswith(f"/data/{baseline_asset}")
    (train_file,) = local_run.outputs["train_data"].glob("*.parquet")
    trained = pd.read_parquet(train_file).drop(columns=["default_payment_next_month", "SEX"])
    carried = target.registry_promoted_with("1")
    held = pd.read_parquet(carried / "features.parquet")
    pd.testing.assert_frame_equal(held, trained)
    # The model card travels with it: dev's card, with where it served in staging.
    card = model_card.build(target, staging.settings, adopted)
    assert card["metrics"]["auc"] == outcome.run.metrics["auc"]
    assert card["explanations"]["top"] and card["lineage"]["run"] == outcome.run.run_id
    assert card["lineage"]["registry"] == f"registry:{MODEL}:1"
    assert [e["action"] for e in card["served"]["events"]] == ["deploy"]
    point_schedule(target, staging.settings, quiet)
    (schedule,) = staging.sent("PUT", r"/schedules/credit-default-monitor$")
    signals = schedule.body["properties"]["action"]["monitorDefinition"]["signals"]
    assert set(signals) == {"data-drift", "prediction-drift", "data-quality"}
    container = staging.fake.blob_service.get_container_client(staging.fake.container)
    uploaded = container.download_blob(
        f"mlops/baselines/{MODEL}/{adopted.version}/features/features.parquet"
    ).readall()
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(uploaded)), trained)
    # A second deploy of the same registry version takes nothing in again.
    before = len(staging.fake.requests)
    again = lifecycle.resolve_model(target, staging.settings, f"registry:{MODEL}:1", quiet)
    assert again.version == adopted.version
    assert {r.method for r in staging.fake.requests[before:]} == {"GET"}


def test_a_rejected_version_never_reaches_the_registry(workspace, local_run, tmp_path):
    target = workspace.target()
    outcome = lifecycle.run(target, workspace.settings, quiet)
    target.set_model_tags(outcome.model.version, {GATE_TAG: "reject"})

    with pytest.raises(lifecycle.LifecycleError, match="not promoted by the gate"):
        lifecycle.promote(target, workspace.settings, outcome.model.version)

    assert not workspace.sent("PUT", r"/registries/")


def test_the_registry_is_named_by_the_environment_or_the_error_says_which_variable(workspace):
    environ = {k: v for k, v in workspace.environ.items() if k != "AZUREML_REGISTRY_NAME"}
    target = workspace.target(environ=environ)
    with pytest.raises(RegistryError, match="AZUREML_REGISTRY_NAME not set"):
        target.get_registry_model("1")

    wrong = workspace.target(environ={**workspace.environ, "AZUREML_REGISTRY_NAME": "mlr-typo"})
    missing = "registry mlr-typo was not found.*check AZUREML_REGISTRY_NAME"
    with pytest.raises(RegistryError, match=missing):
        wrong.get_registry_model("1")


def test_a_version_missing_from_the_registry_is_named(workspace):
    with pytest.raises(ModelNotFound, match=f"the registry has no version 7 of model {MODEL}"):
        lifecycle.deploy(workspace.target(), workspace.settings, f"registry:{MODEL}:7", quiet)
    assert workspace.target().get_endpoint() is None


def test_no_role_on_the_registry_names_the_role_to_grant(workspace):
    workspace.fake.fail_next("GET", rf"/registries/{REGISTRY}/models/{MODEL}/versions/1$", 403)
    with pytest.raises(RegistryError, match="promoting needs AzureML Registry User on it"):
        workspace.target().get_registry_model("1")


def test_files_changed_in_the_registry_are_refused_before_any_deploy(workspace, staging):
    dev = workspace.target()
    outcome = lifecycle.run(dev, workspace.settings, quiet)
    promoted = lifecycle.promote(dev, workspace.settings, outcome.model.version)
    # Someone rewrites a file of the promoted version in the registry's storage.
    registry = workspace.fake.registry
    container = registry.blob_service.get_container_client(registry.container)
    (mlmodel,) = [b.name for b in container.list_blobs() if b.name.endswith("/MLmodel")]
    container.upload_blob(mlmodel, b"flavors: {}\n", overwrite=True)

    target = staging.target()
    with pytest.raises(RegistryError, match="does not hold the files it was promoted with"):
        lifecycle.deploy(target, staging.settings, f"registry:{promoted.ref}", quiet)

    assert target.list_models() == [] and target.get_endpoint() is None


def test_a_version_number_taken_meanwhile_says_to_promote_again(workspace):
    dev = workspace.target()
    outcome = lifecycle.run(dev, workspace.settings, quiet)
    workspace.fake.fail_next("PUT", rf"/registries/{REGISTRY}/models/{MODEL}/versions/1$", 409)

    with pytest.raises(RegistryError, match="appeared in the registry meanwhile"):
        lifecycle.promote(dev, workspace.settings, outcome.model.version)
