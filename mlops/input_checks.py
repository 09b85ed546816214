"""Settings that feed pipeline inputs, checked against the steps that read them.

A value ``mlops.yml`` sets as a pipeline input (``pipeline.test_size`` ...)
reaches every step input bound to it with ``${{parent.inputs.<name>}}``, and
each of those declares in its component YAML a ``type`` and, for numbers, a
``min`` and ``max``. ``check_inputs`` holds the value to all of them, as the
YAML was loaded (the bounds are never copied here), so a value a step would
refuse after data registration and minutes of work stops ``mlops`` at once,
naming the settings key. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.settings import SettingsError

if TYPE_CHECKING:  # only the graph's shape is used; importing it would load a target
    from mlops.pipeline_graph import PipelineGraph, Port, Step

# Input type -> the Python types its values have, and what to call them. A bool
# is an int to Python, never a number or an integer to a step.
TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "number": ((int, float), "a number"),
    "integer": ((int,), "an integer"),
    "string": ((str,), "a string"),
    "boolean": ((bool,), "a boolean"),
}


def inputs_from(settings: object, keys: Mapping[str, str]) -> dict[str, object]:
    """The value of each settings key of ``keys`` (pipeline input -> dotted key,
    ``pipeline.seed``) in ``settings``, by pipeline input name."""
    return {name: functools.reduce(getattr, key.split("."), settings) for name, key in keys.items()}


def readers(graph: PipelineGraph, name: str) -> list[tuple[Step, Port]]:
    """The step inputs bound to pipeline input ``name``, steps in run order."""
    return [
        (step, step.inputs[port])
        for step in graph.steps
        for port, binding in step.bindings.items()
        if binding.parent_input == name and port in step.inputs
    ]


def check_inputs(
    graph: PipelineGraph, values: Mapping[str, object], keys: Mapping[str, str], source: Path
) -> None:
    """Raise ``SettingsError`` when a value of ``values`` (pipeline input name ->
    value) is not of the type, or lies outside the ``min``/``max``, that a step
    input bound to it declares. ``keys`` maps each input name to its settings
    key; the message starts with ``source`` (the settings file) and that key,
    names the job and its component file, and says which values fit every step
    the input feeds. An input no step reads, a step input with no bounds, and a
    type with no plain value (data inputs) accept anything."""
    for name, value in values.items():
        fed = readers(graph, name)
        where = f"{source}: {keys[name]}: {value!r}"
        for step, port in fed:
            if not _fits_type(value, port.type):
                raise SettingsError(
                    f"{where} is not {TYPES[port.type][1]}, the type of "
                    f"{_input(graph, step, port, source)}"
                )
        for step, port in fed:
            if port.min is not None and value < port.min:
                problem = f"is below the minimum {port.min}"
            elif port.max is not None and value > port.max:
                problem = f"is above the maximum {port.max}"
            else:
                continue
            raise SettingsError(
                f"{where} {problem} of {_input(graph, step, port, source)}; {_advice(fed)}"
            )


def _fits_type(value: object, type_: str) -> bool:
    if type_ not in TYPES:
        return True
    if isinstance(value, bool) and type_ != "boolean":
        return False
    return isinstance(value, TYPES[type_][0])


def _input(graph: PipelineGraph, step: Step, port: Port, source: Path) -> str:
    if step.source is None:  # a component written inline in the pipeline
        return f"input {port.name} of job {step.name} (in {_shown(graph.path, source)})"
    return f"input {port.name} of job {step.name} ({_shown(step.source, source)})"


def _shown(path: Path, source: Path) -> Path:
    # Relative to the fork (the folder above models/ for a model's settings file)
    # when it is inside it.
    root = source.parent.parent.parent if source.parent.parent.name == "models" else source.parent
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def _advice(fed: list[tuple[Step, Port]]) -> str:
    low = max((port.min for _, port in fed if port.min is not None), default=None)
    high = min((port.max for _, port in fed if port.max is not None), default=None)
    if low is not None and high is not None:
        if low > high:
            return f"no value fits every job it feeds (at least {low} and at most {high})"
        return f"set it between {low} and {high}"
    return f"set it to at least {low}" if low is not None else f"set it to at most {high}"
