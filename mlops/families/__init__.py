"""What the control plane does with a model according to its kind's family
(``mlops.kinds.Family``): check its data at registration, give its pipeline
its inputs, and smoke-test a new deployment. One ``Operations`` per family
(``tabular``, ``text_generation``); ``operations(kind)`` finds a kind's.
The lifecycle calls these and never asks which family it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlops.kinds import get_kind

if TYPE_CHECKING:
    from mlops.kinds import Kind
    from mlops.settings import DataSettings


@dataclass(frozen=True)
class SmokeTest:
    rows: int  # the rows or prompts the new deployment answered
    seconds: float


class SmokeCases(Protocol):
    """What a new deployment of a model is tried with before it takes traffic."""

    def body(self) -> bytes:
        """All of them as one file: what a promoted version keeps in the registry
        (the family's ``from_sample`` reads it back)."""

    def sample(self) -> bytes:
        """A scoring request of the first one or two, for the user to try."""

    def run(self, target: Any, deployment: str, kind: Kind) -> SmokeTest:
        """Send them straight to ``deployment``; raise ``DeploymentError`` saying
        what the answers got wrong."""


@dataclass(frozen=True)
class Operations:
    # (path, data settings, kind, test_size=, name=) -> the file's profile (rows,
    # columns, classes); raises ``DataError`` naming the file, line or column.
    check_data: Callable[..., Any]
    # (settings, asset) -> the pipeline inputs for a run on the data asset.
    pipeline_inputs: Callable[[Any, Any], dict[str, object]]
    # (test split folder, settings) and (registry sample, limit) -> SmokeCases.
    from_split: Callable[[Path, Any], SmokeCases]
    from_sample: Callable[[bytes, int], SmokeCases]


def operations(kind: str) -> Operations:
    """The operations of kind ``kind``'s family."""
    from mlops.families import tabular, text_generation

    table = {"tabular": tabular.OPERATIONS, "text-generation": text_generation.OPERATIONS}
    return table[get_kind(kind).family.name]


def check_data(path: Path, data: DataSettings, test_size: float, name: str):
    """Check the data file at ``path`` as the model's kind takes it (a table for
    the tabular kinds, examples for text generation); return its profile
    (``rows``, ``columns``, ``classes``). Raises ``DataError`` starting with ``name``."""
    ops = operations(data.kind)
    return ops.check_data(path, data, get_kind(data.kind), test_size=test_size, name=name)
