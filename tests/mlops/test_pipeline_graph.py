from pathlib import Path

import pytest

from mlops.pipeline_graph import (
    Binding,
    PipelineError,
    Port,
    Step,
    check_wiring,
    load_pipeline,
    order_steps,
    parse_binding,
)
from tests.conftest import REPO


def step(name, reads=(), inputs=None, bindings=None, outputs=("out",)):
    bindings = bindings or {
        f"in_{source}": Binding(step_output=(source, "out")) for source in reads
    }
    inputs = inputs or {name: Port(name, "uri_folder") for name in bindings}
    return Step(
        name=name,
        display_name=name,
        command="true",
        code=None,
        inputs=inputs,
        outputs={o: Port(o, "uri_folder") for o in outputs},
        bindings=bindings,
    )


def test_bindings_are_classified():
    assert parse_binding("${{parent.inputs.seed}}") == Binding(parent_input="seed")
    assert parse_binding("${{parent.jobs.prep.outputs.train_data}}") == Binding(
        step_output=("prep", "train_data")
    )
    assert parse_binding(0.5) == Binding(literal=0.5)
    assert parse_binding("plain text") == Binding(literal="plain text")


def test_steps_run_after_the_steps_they_read_from_keeping_written_order():
    steps = [step("evaluate", reads=["train", "prep"]), step("train", reads=["prep"]), step("prep")]
    assert [s.name for s in order_steps(steps)] == ["prep", "train", "evaluate"]
    independent = [step("b"), step("a"), step("c", reads=["a"])]
    assert [s.name for s in order_steps(independent)] == ["b", "a", "c"]


def test_a_cycle_is_an_error():
    with pytest.raises(PipelineError, match="a, b wait on each other in a cycle"):
        order_steps([step("a", reads=["b"]), step("b", reads=["a"])])


def test_wiring_to_a_missing_pipeline_input_is_an_error():
    consumer = step("train", bindings={"seed": Binding(parent_input="sed")})
    with pytest.raises(
        PipelineError, match=r"jobs.train.inputs.seed: no pipeline input named 'sed'"
    ):
        check_wiring([consumer], {"seed": 1}, {})


def test_wiring_to_a_missing_step_or_output_is_an_error():
    with pytest.raises(PipelineError, match=r"jobs.train.inputs.in_prepp: no job named 'prepp'"):
        check_wiring([step("prep"), step("train", reads=["prepp"])], {}, {})
    bad_output = step("train", bindings={"data": Binding(step_output=("prep", "nothing"))})
    with pytest.raises(PipelineError, match=r"job 'prep' has no output 'nothing'"):
        check_wiring([step("prep"), bad_output], {}, {})


def test_an_unbound_required_input_is_an_error_but_a_default_or_optional_one_is_not():
    inputs = {
        "needed": Port("needed", "string"),
        "tuned": Port("tuned", "number", default=0.1),
        "maybe": Port("maybe", "string", optional=True),
    }
    check_wiring([step("a", inputs=inputs, bindings={"needed": Binding(literal="x")})], {}, {})
    with pytest.raises(PipelineError, match=r"jobs.a.inputs.needed: required input is not set"):
        check_wiring([step("a", inputs=inputs, bindings={})], {}, {})


def test_the_training_pipeline_loads_in_dependency_order():
    graph = load_pipeline(REPO / "pipelines" / "train.yml")
    assert [s.name for s in graph.steps] == ["prep", "train", "evaluate"]
    assert graph.outputs == {
        "model": "mlflow_model",
        "metrics": "uri_folder",
        "explanations": "uri_folder",
        "test_data": "uri_folder",
        "train_data": "uri_folder",
    }
    assert graph.inputs["raw_data"] == REPO / "data/credit-default/credit_default.csv"
    train = graph.steps[1]
    assert train.code == REPO / "pipelines" / "src"
    assert train.bindings["train_data"] == Binding(step_output=("prep", "train_data"))
    assert train.published == {"model": "model"}


def test_each_step_knows_its_component_file_and_the_bounds_of_its_inputs():
    graph = load_pipeline(REPO / "pipelines" / "train.yml")
    prep = graph.steps[0]
    assert prep.source == REPO / "pipelines" / "components" / "prep.yml"
    assert prep.inputs["test_size"] == Port("test_size", "number", default=0.2, min=0.05, max=0.5)
    assert prep.inputs["seed"] == Port("seed", "integer", default=42)


def write_pipeline(folder: Path, jobs: str, inputs: str = "  seed: 1\n") -> Path:
    (folder / "step.yml").write_text(
        """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
type: command
name: step
inputs:
  seed: {type: integer}
  data: {type: uri_folder, optional: true}
outputs:
  out: {type: uri_folder}
code: .
environment: {image: "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}
command: echo ${{inputs.seed}} $[[${{inputs.data}}]] > ${{outputs.out}}/seed.txt
"""
    )
    path = folder / "pipeline.yml"
    path.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
        "type: pipeline\nsettings: {default_compute: azureml:cpu-cluster}\n"
        f"inputs:\n{inputs}jobs:\n{jobs}"
    )
    return path


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            "{seed: '${{parent.inputs.seed}}', data: '${{parent.jobs.z.outputs.out}}'}",
            r"jobs.a.inputs.data: no job named 'z'",
        ),
        ("{seed: '${{parent.inputs.sed}}'}", r"jobs.a.inputs.seed: no pipeline input named 'sed'"),
    ],
    ids=["missing-job", "missing-pipeline-input"],
)
def test_a_binding_to_something_that_does_not_exist_is_caught_at_load(tmp_path, inputs, message):
    # azure-ai-ml's own validation accepts these pipelines; the run would fail late.
    path = write_pipeline(
        tmp_path, f"  a:\n    type: command\n    component: ./step.yml\n    inputs: {inputs}\n"
    )
    with pytest.raises(PipelineError, match=message):
        load_pipeline(path)


def test_a_schema_error_names_the_file(tmp_path):
    path = write_pipeline(tmp_path, "  a:\n    type: command\n    component: ./missing.yml\n")
    with pytest.raises(PipelineError, match=str(path)):
        load_pipeline(path)


def test_a_missing_pipeline_file_names_the_settings_key(tmp_path):
    with pytest.raises(PipelineError, match="pipeline file not found; check pipeline.file"):
        load_pipeline(tmp_path / "absent.yml")


def test_the_reuse_settings_are_read_and_kept_by_the_cache(tmp_path):
    from mlops.targets.local.yaml_cache import YamlCache, cached_load
    from tests.mlops.targets.local.test_steps import make_pipeline

    path = make_pipeline(tmp_path, "cp ${{inputs.previous}}/word.txt ${{outputs.out}}/")
    default = load_pipeline(path)
    assert not default.force_rerun and all(step.deterministic for step in default.steps)
    path.write_text(
        path.read_text().replace("default_compute:", "force_rerun: true, default_compute:")
    )
    first = tmp_path / "first.yml"
    first.write_text(
        first.read_text().replace("type: command\n", "type: command\nis_deterministic: false\n")
    )
    graph = cached_load(YamlCache(tmp_path / "cache"), "pipeline", path)()
    assert graph.force_rerun
    assert {step.name: step.deterministic for step in graph.steps} == {
        "first": False,
        "second": True,
    }
    assert YamlCache(tmp_path / "cache").pipeline(path) == graph
