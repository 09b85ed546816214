"""Fixtures of the step scripts' tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> Path:
    """The folder of one MLflow store that the tests' trained sample models log
    to, each under an experiment of its own: a store takes a second or two to
    create."""
    return tmp_path_factory.mktemp("mlflow")


def one_thread() -> None:
    """torch on one thread in this worker: the tiny model's matrices are too small
    for a second to pay, and the other test workers need the cores."""
    import torch

    torch.set_num_threads(1)
