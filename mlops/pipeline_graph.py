"""The pipeline job YAML as a graph of steps, loaded with azure-ai-ml's own loader.

``load_pipeline(path)`` parses and validates the YAML exactly as
``az ml job create`` would offline (``azure.ai.ml.load_job`` plus the SDK's
validation), then checks what the SDK does not: that every
``${{parent.inputs.X}}`` names a pipeline input and every
``${{parent.jobs.S.outputs.Y}}`` names an output of an existing step. It
returns a ``PipelineGraph`` whose steps are in an order that runs each step
after the steps it reads from. Raises ``PipelineError`` naming the file and
the job or input at fault.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops.errors import UserError


class PipelineError(UserError):
    """The pipeline YAML cannot be loaded or wired; the message says where."""


PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.([A-Za-z_]\w*)\s*\}\}$")
STEP_OUTPUT = re.compile(r"^\$\{\{\s*parent\.jobs\.([A-Za-z_]\w*)\.outputs\.([A-Za-z_]\w*)\s*\}\}$")
PARENT_OUTPUT = re.compile(r"^\$\{\{\s*parent\.outputs\.([A-Za-z_]\w*)\s*\}\}$")


@dataclass(frozen=True)
class Binding:
    """What a step input is fed from: a literal, a pipeline input or another step's output."""

    literal: object = None
    parent_input: str | None = None
    step_output: tuple[str, str] | None = None


@dataclass(frozen=True)
class Port:
    name: str
    type: str
    optional: bool = False
    default: object = None
    # The bounds a number or integer input declares (None: unbounded on that side).
    min: float | int | None = None
    max: float | int | None = None


@dataclass(frozen=True)
class Step:
    name: str
    display_name: str
    command: str
    code: Path | None
    inputs: Mapping[str, Port]
    outputs: Mapping[str, Port]
    bindings: Mapping[str, Binding]
    # step output name -> the pipeline output it is published as
    published: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None  # the component's YAML file, when it has one of its own
    # False when the component says its outputs may differ between runs of the same
    # inputs (``is_deterministic: false``): it is never reused.
    deterministic: bool = True

    def upstream(self) -> set[str]:
        return {b.step_output[0] for b in self.bindings.values() if b.step_output}


@dataclass(frozen=True)
class PipelineGraph:
    path: Path
    inputs: Mapping[str, object]  # literal values, or Path for data inputs
    outputs: Mapping[str, str]  # name -> type
    steps: tuple[Step, ...]
    # ``settings.force_rerun``: run every step, reusing none.
    force_rerun: bool = False


def require_inputs(graph: PipelineGraph, names) -> None:
    """Raise ``PipelineError`` naming every name in ``names`` that is not an input
    of the pipeline: a settings key bound to an input the YAML dropped fails here,
    before a run starts."""
    unknown = sorted(set(names) - set(graph.inputs))
    if unknown:
        raise PipelineError(f"{graph.path}: no pipeline input named {', '.join(unknown)}")


def parse_binding(value: object) -> Binding:
    """Classify a step input's value as written in the YAML."""
    if isinstance(value, str):
        if match := PARENT_INPUT.match(value):
            return Binding(parent_input=match[1])
        if match := STEP_OUTPUT.match(value):
            return Binding(step_output=(match[1], match[2]))
    return Binding(literal=value)


def order_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    """Return ``steps`` so that each comes after the steps it reads from,
    keeping the written order where there is a choice. Raises PipelineError
    on a cycle."""
    pending = {step.name: step for step in steps}
    done: list[Step] = []
    while pending:
        ready = [s for s in pending.values() if not (s.upstream() & pending.keys())]
        if not ready:
            raise PipelineError(f"jobs {', '.join(sorted(pending))} wait on each other in a cycle")
        done.append(ready[0])
        del pending[ready[0].name]
    return tuple(done)


def check_wiring(
    steps: Iterable[Step], inputs: Mapping[str, object], outputs: Mapping[str, str]
) -> None:
    """Raise PipelineError for a binding to a pipeline input, step or step
    output that does not exist, or an unbound required step input."""
    steps = list(steps)
    by_name = {step.name: step for step in steps}
    for step in steps:
        for name, binding in step.bindings.items():
            where = f"jobs.{step.name}.inputs.{name}"
            if binding.parent_input and binding.parent_input not in inputs:
                raise PipelineError(f"{where}: no pipeline input named {binding.parent_input!r}")
            if binding.step_output:
                source, output = binding.step_output
                if source not in by_name:
                    raise PipelineError(f"{where}: no job named {source!r}")
                if output not in by_name[source].outputs:
                    raise PipelineError(f"{where}: job {source!r} has no output {output!r}")
        for name, port in step.inputs.items():
            unbound = name not in step.bindings or step.bindings[name] == Binding()
            if unbound and not port.optional and port.default is None:
                raise PipelineError(f"jobs.{step.name}.inputs.{name}: required input is not set")
        for name, published in step.published.items():
            if published not in outputs:
                raise PipelineError(
                    f"jobs.{step.name}.outputs.{name}: no pipeline output {published!r}"
                )


def load_pipeline(path: Path) -> PipelineGraph:
    """Load, validate and order the pipeline job in ``path``."""
    from azure.ai.ml import Input, load_job
    from marshmallow.exceptions import ValidationError

    # The SDK warns on import of every schema it marks experimental, none of
    # which the pipeline uses; the warnings would bury the run's own output.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)

    path = Path(path).absolute()
    if not path.is_file():
        raise PipelineError(f"{path}: pipeline file not found; check pipeline.file in mlops.yml")
    try:
        job = load_job(path)
    except (ValidationError, ValueError) as error:
        raise PipelineError(f"{path}: {_first_line(error)}") from None
    if job.type != "pipeline":
        raise PipelineError(f"{path}: expected `type: pipeline`, found {job.type!r}")
    result = job._validate()
    if not result.passed:
        raise PipelineError(f"{path}: {result.error_messages}")

    def value_of(data: object) -> object:
        if isinstance(data, Input):
            return (path.parent / data.path).resolve() if data.path else None
        return data

    inputs = {name: value_of(_written(item)) for name, item in job.inputs.items()}
    outputs = {name: item.type for name, item in job.outputs.items()}
    steps = []
    for name, node in job.jobs.items():
        if node.type != "command":
            raise PipelineError(f"{path}: jobs.{name}: only command jobs are supported locally")
        steps.append(_step(name, node, value_of))
    check_wiring(steps, inputs, outputs)
    return PipelineGraph(
        path=path,
        inputs=inputs,
        outputs=outputs,
        steps=order_steps(steps),
        force_rerun=bool(job.settings and job.settings.force_rerun),
    )


def _step(name: str, node, value_of) -> Step:
    component = node.component
    code = None
    if component.code:
        code = (Path(component.base_path).absolute() / component.code).resolve()
    published = {}
    for output_name, item in node.outputs.items():
        if isinstance(_written(item), str) and (match := PARENT_OUTPUT.match(_written(item))):
            published[output_name] = match[1]
    return Step(
        name=name,
        display_name=component.display_name or name,
        command=component.command,
        code=code,
        inputs={k: _port(k, v) for k, v in component.inputs.items()},
        outputs={k: _port(k, v) for k, v in component.outputs.items()},
        bindings={k: parse_binding(value_of(_written(v))) for k, v in node.inputs.items()},
        published=published,
        source=_source(component),
        deterministic=component.is_deterministic is not False,
    )


def _source(component) -> Path | None:
    # The SDK records the file a component was loaded from only in `_source_path`
    # (no public accessor); an inline component has none.
    source = getattr(component, "_source_path", None)
    return Path(source).resolve() if source else None


def _port(name: str, item) -> Port:
    return Port(
        name=name,
        type=item.type,
        optional=bool(getattr(item, "optional", False)),
        default=getattr(item, "default", None),
        min=getattr(item, "min", None),
        max=getattr(item, "max", None),
    )


def _written(item: object) -> object:
    # The SDK keeps what the YAML wrote for a node or pipeline input/output
    # (a binding string, a literal or an Input) in `_data`; there is no public accessor.
    return getattr(item, "_data", None)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
