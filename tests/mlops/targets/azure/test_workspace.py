"""Which workspace the Azure target uses: the environment first, then config.json."""

from __future__ import annotations

import json

import pytest

from mlops.targets.azure.workspace import WorkspaceError, read_coordinates

ENVIRON = {
    "AZURE_SUBSCRIPTION_ID": "sub",
    "AZURE_RESOURCE_GROUP": "rg",
    "AZUREML_WORKSPACE_NAME": "ws",
    "AZUREML_COMPUTE": "cpu-cluster",
}


def test_the_variables_stack_env_writes_name_the_workspace_and_its_compute(tmp_path):
    found = read_coordinates(tmp_path, ENVIRON)
    assert (found.subscription, found.resource_group, found.workspace, found.compute) == (
        "sub",
        "rg",
        "ws",
        "cpu-cluster",
    )


def test_a_missing_variable_is_named(tmp_path):
    environ = {k: v for k, v in ENVIRON.items() if k != "AZURE_RESOURCE_GROUP"}
    with pytest.raises(WorkspaceError, match="^AZURE_RESOURCE_GROUP not set"):
        read_coordinates(tmp_path, environ)


def test_config_json_is_found_as_ml_client_from_config_finds_it(tmp_path):
    (tmp_path / ".azureml").mkdir()
    config = {"subscription_id": "s", "resource_group": "r", "workspace_name": "w"}
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(config))
    project = tmp_path / "project"
    project.mkdir()

    found = read_coordinates(project, {"AZUREML_COMPUTE": "gpu"})

    assert (found.workspace, found.compute) == ("w", "gpu")
    assert found.source == str(tmp_path / ".azureml" / "config.json")


def test_a_config_json_without_a_key_names_the_file_and_the_key(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"subscription_id": "s"}))
    with pytest.raises(WorkspaceError, match="config.json: key resource_group is missing"):
        read_coordinates(tmp_path, {})


def test_nothing_to_go_on_says_both_ways_to_name_a_workspace(tmp_path):
    with pytest.raises(WorkspaceError) as raised:
        read_coordinates(tmp_path / "nowhere", {})
    assert "set AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME" in str(
        raised.value
    )
    assert "--ml-config .azureml/config.json" in str(raised.value)
