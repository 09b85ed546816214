"""Which of the fork's models a change touches: what a push trains, gates and deploys."""

import pytest

from mlops.fork_models import affected
from mlops.settings import load_fork
from tests.conftest import REPO

TABLES = ["credit-default", "diabetes-progression", "wine-cultivar"]
ALL = ["credit-default", "diabetes-progression", "number-words", "wine-cultivar"]


@pytest.mark.parametrize(
    ("changed", "models"),
    [
        (["models/wine-cultivar/mlops.yml"], ["wine-cultivar"]),
        (["models/diabetes-progression/train.yml"], ["diabetes-progression"]),
        (["data/wine/wine.csv"], ["wine-cultivar"]),
        # The shared pipeline YAML; diabetes-progression runs its own.
        (["pipelines/train.yml"], ["credit-default", "wine-cultivar"]),
        # Its own pipeline takes the shared components and their code; the
        # text-generation model's pipeline takes other components.
        (["pipelines/components/train.yml"], TABLES),
        (["pipelines/finetune.yml"], ["number-words"]),
        (["environments/finetune/conda.yml"], ["number-words"]),
        (["pipelines/src/score.py"], ALL),
        # In the code folder every step uploads: its snapshot changes for every model.
        (["pipelines/src/metrics/regression.json"], ALL),
        (["environments/score/conda.yml"], TABLES),
        (["mlops/gate.py"], ALL),
        (["mlops.yml"], ALL),
        (["uv.lock"], ALL),
        (["README.md", "infra/__main__.py", "models/README.md"], []),
        ([], []),
    ],
)
def test_a_change_touches_the_models_that_run_what_it_changed(changed, models):
    assert affected(load_fork(REPO / "mlops.yml"), changed) == models


def test_every_model_when_asked_for_all():
    assert affected(load_fork(REPO / "mlops.yml"), [], every=True) == ALL
