"""Settings that feed pipeline inputs are held to the type and bounds of every step they feed."""

import pytest

from mlops.input_checks import check_inputs
from mlops.pipeline_graph import Binding, PipelineGraph, Port, Step, load_pipeline
from mlops.settings import SettingsError
from tests.conftest import REPO

SETTINGS = REPO / "mlops.yml"
KEYS = {"test_size": "pipeline.test_size", "seed": "pipeline.seed", "rate": "pipeline.rate"}


@pytest.fixture(scope="module")
def graph():
    return load_pipeline(REPO / "pipelines" / "train.yml")


def check(graph, **values):
    check_inputs(graph, values, KEYS, SETTINGS)


def test_the_repository_settings_fit_the_pipeline(graph):
    check(graph, test_size=0.2, seed=42)
    check(graph, test_size=0.05, seed=0)
    check(graph, test_size=0.5, seed=2**32 - 1)  # seed declares no bounds


def test_a_value_above_the_maximum_names_the_key_the_job_its_component_and_the_range(graph):
    with pytest.raises(SettingsError) as error:
        check(graph, test_size=0.7, seed=42)
    assert str(error.value) == (
        f"{SETTINGS}: pipeline.test_size: 0.7 is above the maximum 0.5 of input test_size "
        "of job prep (pipelines/components/prep.yml); set it between 0.05 and 0.5"
    )


def test_a_value_below_the_minimum_is_refused(graph):
    with pytest.raises(
        SettingsError, match=r"pipeline\.test_size: 0\.01 is below the minimum 0\.05"
    ):
        check(graph, test_size=0.01, seed=42)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"seed": "42"},
            r"pipeline\.seed: '42' is not an integer, the type of input seed of job prep",
        ),
        ({"seed": 4.5}, r"pipeline\.seed: 4\.5 is not an integer"),
        ({"test_size": "0.2"}, r"pipeline\.test_size: '0\.2' is not a number"),
        ({"test_size": True}, r"pipeline\.test_size: True is not a number"),
        ({"seed": False}, r"pipeline\.seed: False is not an integer"),
    ],
    ids=[
        "text-for-integer",
        "float-for-integer",
        "text-for-number",
        "bool-for-number",
        "bool-for-integer",
    ],
)
def test_a_value_of_the_wrong_type_is_refused(graph, values, message):
    with pytest.raises(SettingsError, match=message):
        check(graph, **values)


def test_an_integer_is_a_number(graph):
    with pytest.raises(SettingsError, match=r"pipeline\.test_size: 1 is above the maximum 0\.5"):
        check(graph, test_size=1)


def step(name, port, source=None):
    return Step(
        name=name,
        display_name=name,
        command="true",
        code=None,
        inputs={port.name: port},
        outputs={},
        bindings={port.name: Binding(parent_input="rate")},
        source=source,
    )


def pipeline(*steps):
    return PipelineGraph(
        path=REPO / "pipelines" / "p.yml", inputs={"rate": 0.2}, outputs={}, steps=steps
    )


def test_an_input_feeding_two_steps_must_fit_both():
    graph = pipeline(
        step("a", Port("rate", "number", max=0.5), source=REPO / "pipelines" / "a.yml"),
        step("b", Port("rate", "number", min=0.1, max=0.3), source=REPO / "pipelines" / "b.yml"),
    )
    check(graph, rate=0.25)
    with pytest.raises(SettingsError) as error:
        check(graph, rate=0.4)
    assert str(error.value).endswith(
        "pipeline.rate: 0.4 is above the maximum 0.3 of input rate of job b (pipelines/b.yml); "
        "set it between 0.1 and 0.3"
    )
    with pytest.raises(
        SettingsError, match=r"0\.6 is above the maximum 0\.5 of input rate of job a"
    ):
        check(graph, rate=0.6)


def test_steps_whose_bounds_leave_no_common_value_say_so():
    graph = pipeline(
        step("a", Port("rate", "number", max=0.2)), step("b", Port("rate", "number", min=0.3))
    )
    with pytest.raises(
        SettingsError, match=r"no value fits every job it feeds \(at least 0\.3 and at most 0\.2\)"
    ):
        check(graph, rate=0.25)


def test_one_bound_alone_says_which_side_to_stay_on():
    with pytest.raises(SettingsError, match=r"; set it to at least 1$"):
        check(pipeline(step("a", Port("rate", "integer", min=1))), rate=0)
    with pytest.raises(SettingsError, match=r"; set it to at most 9$"):
        check(pipeline(step("a", Port("rate", "integer", max=9))), rate=10)


def test_an_inline_component_is_named_by_the_pipeline_file():
    with pytest.raises(SettingsError, match=r"of input rate of job a \(in pipelines/p\.yml\)"):
        check(pipeline(step("a", Port("rate", "number", max=0.5))), rate=0.6)


def test_without_declared_bounds_any_value_of_the_type_is_accepted():
    check(pipeline(step("a", Port("rate", "number"))), rate=-1e9)
    check(pipeline(step("a", Port("rate", "string"))), rate="anything")
    check(pipeline(step("a", Port("rate", "boolean"))), rate=False)


def test_an_input_no_step_reads_is_not_checked():
    check(pipeline(), rate="anything")


def test_a_component_outside_the_project_is_named_by_its_full_path(tmp_path):
    outside = tmp_path / "shared" / "a.yml"
    with pytest.raises(SettingsError, match=f"of job a \\({outside}\\)"):
        check(pipeline(step("a", Port("rate", "number", max=0.5), source=outside)), rate=0.6)
