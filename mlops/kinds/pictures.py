"""Drawing shared by the kinds' gate pictures (matplotlib axes in, nothing out)."""

from __future__ import annotations


def draw_group_bars(axes, curves: dict, measure: str, ylabel: str, title: str) -> None:
    """Per group of the sensitive column (``curves.json``'s ``groups``), one bar
    of ``measure`` per model; says so when there are no groups."""
    groups = sorted({g for data, _ in curves.values() for g in data.get("groups", {})})
    if not groups:
        axes.text(0.5, 0.5, "no sensitive column:\nfairness not measured", ha="center")
        axes.set_axis_off()
        return
    width = 0.8 / len(curves)
    for index, (label, (data, colour)) in enumerate(curves.items()):
        values = [data["groups"].get(g, {}).get(measure, 0.0) for g in groups]
        positions = [i + (index - (len(curves) - 1) / 2) * width for i in range(len(groups))]
        axes.bar(positions, values, width=width, color=colour, label=label)
    axes.set_xticks(range(len(groups)), groups)
    axes.set(xlabel="group", ylabel=ylabel, title=title)
    axes.legend(fontsize=8)
