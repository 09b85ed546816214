"""Datastore paths as a fork writes them in data.path."""

import pytest

from mlops.targets.azure.storage import move_into_place, parse_datastore_uri


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


def test_a_download_finished_second_keeps_the_one_already_in_place(tmp_path):
    # Two commands downloading the same run output at once: the later rename finds
    # the folder there and leaves it, instead of failing the command.
    first, second, folder = tmp_path / "first", tmp_path / "second", tmp_path / "metrics"
    for staging, text in ((first, "1"), (second, "2")):
        staging.mkdir()
        (staging / "metrics.json").write_text(text)

    move_into_place(first, folder)
    move_into_place(second, folder)

    assert (folder / "metrics.json").read_text() == "1"
