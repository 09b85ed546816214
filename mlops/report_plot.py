"""The gate report's picture: the candidate beside the champion, two panels.

What the panels show is the model kind's (``mlops.kinds``): for a binary
classifier the ROC curves and the per-group selection rates, for a multiclass
one the confusion matrix and recall per class, for regression predicted
against actual and the residuals.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import matplotlib

from mlops.state_files import write_file

matplotlib.use("Agg")  # files only; no display on CI runners

import matplotlib.pyplot as plt

CANDIDATE, CHAMPION = "#1f77b4", "#7f7f7f"


def draw_gate_picture(
    path: Path,
    title: str,
    candidate: Mapping,
    champion: Mapping | None = None,
    champion_label: str = "champion",
    kind: str = "binary-classification",
) -> None:
    """Draw the curves of ``candidate`` (and ``champion``, if given) into the PNG ``path``
    (written as mlops.state_files writes, never through a link). Each curves
    mapping is the evaluate step's ``curves.json`` for a model of ``kind``."""
    from mlops.kinds import get_kind

    curves = {}
    if champion:
        curves[champion_label] = (champion, CHAMPION)
    curves["candidate"] = (candidate, CANDIDATE)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    get_kind(kind).draw(axes, curves)
    save_figure(figure, title, path)


def save_figure(figure, title: str, path: Path) -> None:
    """Title ``figure``, lay it out and write it as the PNG ``path`` (as
    mlops.state_files writes, never through a link); the figure is closed."""
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    picture = io.BytesIO()
    figure.savefig(picture, format="png")
    plt.close(figure)
    write_file(path, picture.getvalue())
