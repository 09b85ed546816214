"""Datastore paths as a fork writes them in data.path."""

import pytest

from mlops.targets.azure.storage import parse_datastore_uri


@pytest.mark.parametrize(
    "uri",
    [
        "azureml://datastores/landing/paths/credit/latest.csv",
        "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/landing/paths/credit/latest.csv",
        "azureml://subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
        "/workspaces/w/datastores/landing/paths/credit/latest.csv",
    ],
    ids=["short", "long", "long-with-provider"],
)
def test_both_forms_of_a_datastore_file_name_the_store_and_the_path(uri):
    assert parse_datastore_uri(uri) == ("landing", "credit/latest.csv")


@pytest.mark.parametrize(
    "uri", ["data/credit.csv", "azureml://jobs/x/outputs/model", "azureml:credit-default:1"]
)
def test_anything_else_is_not_a_datastore_file(uri):
    assert parse_datastore_uri(uri) is None
