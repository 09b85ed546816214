"""The gate report's picture: ROC curves and per-group selection rates, side by side.

Left: the ROC curve of the candidate on its test split, and the champion's on
its own. Right: per group of the sensitive column, the share predicted
positive (the rate the demographic parity difference compares) for each model.
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
) -> None:
    """Draw the curves of ``candidate`` (and ``champion``, if given) into the PNG ``path``
    (written as mlops.state_files writes, never through a link).

    Each curves mapping is evaluate's ``curves.json``: ``roc`` (``fpr``, ``tpr``)
    and ``groups`` (group -> ``selection_rate`` ...)."""
    curves = {}
    if champion:
        curves[champion_label] = (champion, CHAMPION)
    curves["candidate"] = (candidate, CANDIDATE)
    figure, (roc, rates) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    for label, (data, colour) in curves.items():
        auc = _auc(data["roc"]["fpr"], data["roc"]["tpr"])
        roc.plot(
            data["roc"]["fpr"], data["roc"]["tpr"], color=colour, label=f"{label} (AUC {auc:.3f})"
        )
    roc.plot([0, 1], [0, 1], color="#cccccc", linestyle=":", linewidth=1)
    roc.set(
        xlabel="false positive rate", ylabel="true positive rate", title="ROC on the test split"
    )
    roc.legend(loc="lower right", fontsize=8)

    groups = sorted({g for data, _ in curves.values() for g in data["groups"]})
    if groups:
        _draw_rates(rates, curves, groups)
    else:
        rates.text(0.5, 0.5, "no sensitive column:\nfairness not measured", ha="center")
        rates.set_axis_off()
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    picture = io.BytesIO()
    figure.savefig(picture, format="png")
    plt.close(figure)
    write_file(path, picture.getvalue())


def _draw_rates(rates, curves: dict, groups: list[str]) -> None:
    width = 0.8 / len(curves)
    for index, (label, (data, colour)) in enumerate(curves.items()):
        values = [data["groups"].get(g, {}).get("selection_rate", 0.0) for g in groups]
        positions = [i + (index - (len(curves) - 1) / 2) * width for i in range(len(groups))]
        rates.bar(positions, values, width=width, color=colour, label=label)
    rates.set_xticks(range(len(groups)), groups)
    rates.set(xlabel="group", ylabel="share predicted positive", title="Selection rate by group")
    rates.legend(fontsize=8)


def _auc(fpr: list[float], tpr: list[float]) -> float:
    return sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2 for i in range(1, len(fpr)))
