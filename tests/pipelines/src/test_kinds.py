import json
import subprocess
import sys

import evaluate
import pytest
from contract import KIND_NAMES
from kinds import KINDS

from tests.conftest import REPO


def test_every_kind_the_roles_may_name_has_a_row_of_that_name():
    assert tuple(KINDS) == KIND_NAMES
    for name, kind in KINDS.items():
        assert kind.name == name
        assert kind.predict_fn in ("predict", "predict_proba")
        # A signal has a name in feature_signal.json, or there is neither.
        assert (kind.signal_measure is None) == (kind.feature_signal is None), name


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_each_kind_has_a_metric_catalogue_beside_the_evaluate_step(kind):
    entries = json.loads(evaluate.catalog_file(kind).read_text())
    assert entries, kind
    for name, entry in entries.items():
        assert entry["better"] in ("higher", "lower", None), name
        assert entry.get("needs") in ("groups", None), name
        assert entry["description"], name
    assert list(entries)[-1] == "test_rows"  # every kind counts its test rows, last


def test_the_kinds_load_neither_scikit_learn_nor_fairlearn():
    # The prep step starts without scikit-learn (it doubles the start-up time);
    # the scoring environment has no fairlearn at all.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, prep, kinds; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'fairlearn'}))",
        ],
        cwd=REPO / "pipelines" / "src",
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
