import pytest

from mlops.targets.local.commands import CommandError, render_command


def test_placeholders_are_replaced_and_quoted_for_the_shell():
    command = render_command(
        "python a.py --x ${{inputs.x}} --out ${{outputs.out}} --p ${{ inputs.path }}",
        {"x": 0.2, "path": "/tmp/with space/f.csv"},
        {"out": "/runs/1/out"},
    )
    assert command == "python a.py --x 0.2 --out /runs/1/out --p '/tmp/with space/f.csv'"


def test_an_optional_block_is_kept_without_brackets_when_its_inputs_are_set():
    template = "run $[[--lr ${{inputs.lr}}]] --seed ${{inputs.seed}}"
    assert render_command(template, {"lr": 0.1, "seed": 1}, {}) == "run --lr 0.1 --seed 1"


def test_an_optional_block_is_dropped_when_an_input_in_it_is_unset():
    template = "run $[[--lr ${{inputs.lr}} --decay ${{inputs.decay}}]] --seed ${{inputs.seed}}"
    assert render_command(template, {"lr": 0.1, "decay": None, "seed": 1}, {}) == "run  --seed 1"


def test_a_required_placeholder_without_value_is_an_error():
    with pytest.raises(CommandError, match=r"inputs.seed has no value"):
        render_command("run --seed ${{inputs.seed}}", {}, {})
    with pytest.raises(CommandError, match=r"outputs.model has no value"):
        render_command("run --out ${{outputs.model}}", {}, {})
