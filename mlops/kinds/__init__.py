"""Model kinds: what a model predicts, and everything that follows from it.

A kind is one row of ``KINDS``: its metric catalogue (the file the evaluate
step writes its metrics by), the gate a new model of the kind starts with,
the checks its label column gets at registration, the shape of its scoring
answer (checked by the deploy's smoke test), the gate report's picture and
the metric the listings show. The gate, the champion, blue/green deploys,
registry promotion and the audit records are the same for every kind; only
this table knows the kinds apart. A model names its kind in its settings
(``kind:``); the data plane (``pipelines/src/kinds.py``) has the same names.

Kinds come in families (``Family``): what the data are (a table with a
target column, or chat examples), which pipeline and deployment a model of
the kind starts with, what its pipeline takes from the settings and how a
new deployment is smoke-tested. ``TABULAR`` holds the two classifiers and
regression; ``text_generation.FAMILY`` the fine-tuned language models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The kind of a model whose settings or records name none (all were binary then).
DEFAULT_KIND = "binary-classification"

__all__ = ["DEFAULT_KIND", "KINDS", "TABULAR", "Family", "Kind", "get_kind"]


@dataclass(frozen=True)
class Family:
    """What a group of kinds shares: what their data are, which pipeline and
    deployment a model starts with, and what the pipeline takes from the settings.
    What the control plane does with them (checking the data, the pipeline's
    inputs, the smoke test) is the family's operations: ``mlops.families``."""

    name: str
    # Whether the data are a table whose data.target_column the model predicts
    # (with data.sensitive_column and data.features); else examples, no columns.
    labelled: bool
    # Whether the model is fine-tuned from a base model (the settings' finetune:).
    fine_tunes: bool
    # What a model of the family starts with, relative to the fork's folder.
    pipeline_file: str
    deployment_file: str
    # Pipeline input -> the settings key it is set from (held to the steps' bounds).
    settings_inputs: Mapping[str, str]
    # Whether its endpoint also answers OpenAI's POST /v1/chat/completions (locally).
    chat: bool = False
    # Whether `mlops monitor` measures its data (columns against a baseline).
    monitored: bool = True


# A CSV whose target column the model predicts from the others.
TABULAR = Family(
    name="tabular",
    labelled=True,
    fine_tunes=False,
    pipeline_file="pipelines/train.yml",
    deployment_file="pipelines/endpoints/deployment.yml",
    settings_inputs={
        "test_size": "pipeline.test_size",
        "seed": "pipeline.seed",
        "explain_rows": "pipeline.explain_rows",
        "explain_repeats": "pipeline.explain_repeats",
        "shap_rows": "pipeline.shap_rows",
    },
)


@dataclass(frozen=True)
class Kind:
    name: str
    # One line for `mlops new-model --help` and the README.
    summary: str
    # The metric the listings show beside each run and version.
    headline: str
    # A new model's gate: the `gate:` mapping a scaffolded settings file holds.
    gate: Mapping[str, Any]
    # The plausibility rules a model of the kind gets when its gate leaves the key out.
    plausibility: tuple[Mapping[str, Any], ...]
    # Whether `data.positive_class` means anything (binary only).
    positive_class: bool
    # (where, table, data, test_size) -> the label's profile (mlops.label_checks);
    # None for a kind whose data have no label column.
    check_label: Callable[[str, Any, Any, float], Any] | None
    # Raises ValueError saying what is wrong with a 200 answer to ``rows`` rows.
    check_answer: Callable[[Mapping[str, Any], int], None]
    # (axes, {label: (curves, colour)}) -> draws the kind's picture of curves.json;
    # None for a kind whose evaluate step writes no curves.
    draw: Callable[[Any, Mapping[str, tuple[Mapping, str]]], None] | None
    # Most distinct label values registration keeps per class (records by class);
    # 0 when the label is a number.
    max_classes: int = 0
    # The evaluate step's curves the gate report draws, in words (for its alt text).
    picture: str = field(default="")
    # How the answers' `prediction` drifts: "categorical" (a class) or "numerical".
    prediction_type: str = "categorical"
    # What its data are, and the pipeline and deployment it starts with.
    family: Family = TABULAR

    def catalog(self) -> str:
        """The metric catalogue of the kind, relative to the fork's folder."""
        return f"pipelines/src/metrics/{self.name}.json"


def _table() -> dict[str, Kind]:
    from mlops.kinds import binary, multiclass, regression, text_generation

    rows = (binary.KIND, multiclass.KIND, regression.KIND, text_generation.KIND)
    return {kind.name: kind for kind in rows}


KINDS: dict[str, Kind] = _table()


def get_kind(name: str) -> Kind:
    """The kind called ``name``; raises KeyError naming the kinds there are."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no kind {name!r}; the kinds are {', '.join(KINDS)}") from None
