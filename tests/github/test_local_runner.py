"""The local runner keeps GitHub's rules for what the workflows use: expressions
and status functions, matrices fed by a job's output, nested reusable
workflows and their outputs, push filters. Each shown on a small workflow of
`echo` steps, in milliseconds."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.github.local_runner import NO_COMMIT, LocalRunner, Status, condition, evaluate
from tests.github.workflows import load


def runner(tmp_path, **texts: str) -> LocalRunner:
    """A runner in ``tmp_path`` knowing the workflows ``texts`` (name -> YAML)."""
    known = {f"{name}.yml": load(Path(f"{name}.yml"), text) for name, text in texts.items()}
    tmp_path.mkdir(parents=True, exist_ok=True)
    return LocalRunner(
        project=tmp_path,
        environ={"PATH": os.environ["PATH"]},
        workflows=known,
        vars={},
        override=lambda env: {},
        scratch=tmp_path / "runner",
    )


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("'Promote' == 'promote'", True),  # text compares ignoring case
        ("inputs.missing == ''", True),  # a missing value is null, which equals ''
        ("inputs.missing || 'fallback'", "fallback"),  # || gives an operand
        ("'x' && inputs.missing", None),
        ("!inputs.missing && '1' == 1", True),  # other types compare as numbers
        ('fromJSON(\'["a", "b"]\')', ["a", "b"]),
        ("fromJSON('[]') && 'arrays are true'", "arrays are true"),
        ("format('{0}-{1}', 'mlops-deploy', inputs.model)", "mlops-deploy-wine"),
        ("contains(fromJSON('[\"A\"]'), 'a')", True),
    ],
)
def test_expressions_are_read_as_github_reads_them(expression, value):
    assert evaluate(expression, {"inputs": {"model": "wine"}}) == value


def test_an_expression_it_does_not_know_raises():
    with pytest.raises(ValueError, match="hashFiles"):
        evaluate("hashFiles('x')", {})
    with pytest.raises(ValueError, match="only allowed in an if"):
        evaluate("failure()", {})


def test_an_if_without_a_status_function_needs_everything_before_to_have_succeeded():
    after_a_failure = Status(success=False, failure=True)
    assert not condition("true", {}, after_a_failure)
    assert condition("${{ !cancelled() && failure() }}", {}, after_a_failure)
    assert condition("always()", {}, after_a_failure)


MATRIX = """
on:
  workflow_dispatch:
    inputs:
      names: {type: string}
jobs:
  list:
    runs-on: ubuntu-24.04
    outputs:
      names: ${{ steps.list.outputs.names }}
    steps:
      - id: list
        env:
          NAMES: ${{ inputs.names }}
        run: echo "names=$NAMES" >> "$GITHUB_OUTPUT"
  each:
    needs: list
    if: needs.list.outputs.names != '[]'
    strategy:
      fail-fast: FAIL_FAST
      matrix:
        name: ${{ fromJSON(needs.list.outputs.names) }}
    runs-on: ubuntu-24.04
    outputs:
      last: ${{ steps.one.outputs.last }}
    env:
      NAME: ${{ matrix.name }}
    steps:
      - id: one
        run: |
          echo "last=$NAME" >> "$GITHUB_OUTPUT"
          [ "$NAME" != b ]
      - if: failure()
        run: echo "after $NAME failed"
  report:
    needs: each
    if: always()
    runs-on: ubuntu-24.04
    outputs:
      seen: ${{ steps.seen.outputs.seen }}
    steps:
      - id: seen
        env:
          RESULT: ${{ needs.each.result }}
          LAST: ${{ needs.each.outputs.last }}
        run: echo "seen=$RESULT $LAST" >> "$GITHUB_OUTPUT"
  after:
    needs: each
    runs-on: ubuntu-24.04
    steps:
      - run: echo never
"""


def matrix(fail_fast: bool) -> str:
    return MATRIX.replace("FAIL_FAST", str(fail_fast).lower())


def test_a_matrix_fails_when_a_leg_fails_and_its_outputs_are_the_last_legs(tmp_path):
    local = runner(tmp_path, matrix=matrix(fail_fast=False))

    jobs = local.run_workflow(local.workflows["matrix.yml"], {"names": '["a", "b", "c"]'})

    each = jobs["each"]
    assert {name: leg.result for name, leg in each.legs.items()} == {
        "a": "success",
        "b": "failure",
        "c": "success",
    }
    # The step that asks for failure() ran after the failed one, in that leg only.
    assert [out for _, _, out in each.legs["b"].steps][1] == "after b failed\n"
    assert len(each.legs["a"].steps) == 1
    assert each.result == "failure"
    assert jobs["report"].outputs["seen"] == "failure c"
    assert jobs["after"].result == "skipped"
    logged = [where for where, _ in local.log]
    assert logged[:3] == ["matrix.yml:list", "matrix.yml:each (a)", "matrix.yml:each (b)"]


def test_fail_fast_cancels_the_legs_after_a_failed_one(tmp_path):
    local = runner(tmp_path, matrix=matrix(fail_fast=True))

    jobs = local.run_workflow(local.workflows["matrix.yml"], {"names": '["a", "b", "c"]'})

    assert jobs["each"].legs["c"].result == "cancelled"
    assert jobs["each"].result == "failure"


def test_a_matrix_of_nothing_fails_unless_its_if_skips_it(tmp_path):
    unguarded = matrix(fail_fast=False).replace("    if: needs.list.outputs.names != '[]'\n", "")
    local = runner(tmp_path, matrix=unguarded)

    jobs = local.run_workflow(local.workflows["matrix.yml"], {"names": "[]"})
    assert jobs["each"].result == "failure"
    assert "Matrix vector 'name' does not contain any values" in jobs["each"].steps[0][2]

    local = runner(tmp_path / "skipped", matrix=matrix(fail_fast=False))
    jobs = local.run_workflow(local.workflows["matrix.yml"], {"names": "[]"})
    assert jobs["each"].result == "skipped" and jobs["report"].outputs["seen"] == "skipped "


OUTER = """
on: workflow_dispatch
jobs:
  each:
    strategy:
      matrix:
        name: [a, b]
    uses: ./.github/workflows/middle.yml
    with:
      name: ${{ matrix.name }}
"""
MIDDLE = """
on:
  workflow_call:
    inputs:
      name: {type: string, required: true}
      flag: {type: boolean, default: false}
    outputs:
      said:
        value: ${{ jobs.second.outputs.said }}
jobs:
  first:
    uses: ./.github/workflows/inner.yml
    with:
      word: ${{ inputs.name }}
  second:
    needs: first
    uses: ./.github/workflows/inner.yml
    with:
      word: ${{ format('{0} then {1}', needs.first.outputs.said, inputs.flag) }}
"""
INNER = """
on:
  workflow_call:
    inputs:
      word: {type: string, required: true}
    outputs:
      said:
        value: ${{ jobs.say.outputs.said }}
jobs:
  say:
    runs-on: ubuntu-24.04
    outputs:
      said: ${{ steps.say.outputs.said }}
    steps:
      - id: say
        env:
          WORD: ${{ inputs.word }}
        run: echo "said=$WORD" >> "$GITHUB_OUTPUT"
"""


def test_each_leg_calls_its_own_chain_of_reusable_workflows(tmp_path):
    local = runner(tmp_path, outer=OUTER, middle=MIDDLE, inner=INNER)

    jobs = local.run_workflow(local.workflows["outer.yml"])

    legs = jobs["each"].legs
    assert {name: leg.outputs["said"] for name, leg in legs.items()} == {
        "a": "a then false",
        "b": "b then false",
    }
    assert legs["a"].jobs["second"].jobs["say"].result == "success"
    assert "outer.yml:each (b)/middle.yml:second/inner.yml:say" in [w for w, _ in local.log]


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ("      name: ${{ matrix.name }}\n", "", "requires the input name"),
        ("      name: ${{ matrix.name }}\n", "      name: x\n      nam: y\n", "no input nam"),
        ("      name: ${{ matrix.name }}\n", "      name: x\n      flag: maybe\n", "a boolean"),
    ],
)
def test_a_call_github_would_refuse_raises(tmp_path, old, new, why):
    local = runner(tmp_path, outer=OUTER.replace(old, new), middle=MIDDLE, inner=INNER)

    with pytest.raises(ValueError, match=why):
        local.run_workflow(local.workflows["outer.yml"])


PUSHED = """
on:
  push:
    branches: [main]
    paths: ["models/**", "!models/**/*.md", mlops.yml]
jobs:
  one:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "$BEFORE"
        env:
          BEFORE: ${{ github.event.before }}
"""


def test_a_push_starts_a_workflow_only_through_its_filters(tmp_path):
    def commit(path: str, text: str) -> str:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
        for args in (["add", "-A"], ["commit", "-q", "-m", path]):
            subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], **run)
        return subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()

    run = {"cwd": tmp_path, "check": True, "capture_output": True, "text": True}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    local = runner(tmp_path, pushed=PUSHED)
    pushed = local.workflows["pushed.yml"]

    first = commit("models/a/mlops.yml", "kind: regression\n")
    # A new branch: every file of its commit counts.
    assert local.run_workflow(pushed, event="push", payload={"before": NO_COMMIT, "after": first})
    # A change the filters leave out starts nothing.
    second = commit("models/a/README.md", "a\n")
    assert (
        local.run_workflow(pushed, event="push", payload={"before": first, "after": second}) == {}
    )
    third = commit("mlops.yml", "target: local\n")

    jobs = local.run_workflow(pushed, event="push", payload={"before": second, "after": third})

    assert jobs["one"].steps[0][2] == f"{second}\n"
    elsewhere = {"before": second, "after": third, "ref": "refs/heads/topic"}
    assert local.run_workflow(pushed, event="push", payload=elsewhere) == {}


ARTIFACTS = """
on: workflow_dispatch
jobs:
  make:
    runs-on: ubuntu-24.04
    strategy:
      matrix:
        name: [a, b]
    steps:
      - env:
          NAME: ${{ matrix.name }}
        run: mkdir -p "$RUNNER_TEMP/out/sub" && echo "$NAME" > "$RUNNER_TEMP/out/sub/said.txt"
      - uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: said-${{ matrix.name }}
          path: ${{ runner.temp }}/out
      - uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: nothing-${{ matrix.name }}
          path: ${{ runner.temp }}/none
          if-no-files-found: ignore
  read:
    needs: make
    runs-on: ubuntu-24.04
    outputs:
      each: ${{ steps.read.outputs.each }}
      merged: ${{ steps.read.outputs.merged }}
    steps:
      - uses: actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0
        with:
          pattern: said-*
          path: ${{ runner.temp }}/each
      - uses: actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0
        with:
          name: said-b
          path: ${{ runner.temp }}/one
      - id: read
        run: |
          cd "$RUNNER_TEMP/each"
          echo "each=$(echo */sub/said.txt) $(cat */sub/said.txt | tr '\\n' ' ')" >> $GITHUB_OUTPUT
          echo "merged=$(cat ../one/sub/said.txt)" >> "$GITHUB_OUTPUT"
      - uses: actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093 # v4.3.0
        with:
          name: nothing-a
"""


def test_artifacts_pass_between_jobs_of_one_run_as_v4_keeps_them(tmp_path):
    local = runner(tmp_path, artifacts=ARTIFACTS)

    jobs = local.run_workflow(local.workflows["artifacts.yml"])

    assert jobs["make"].result == "success"
    read = jobs["read"]
    assert read.outputs["each"] == "said-a/sub/said.txt said-b/sub/said.txt a b "
    assert read.outputs["merged"] == "b"
    # An upload that found nothing made no artifact: asking for it by name fails.
    assert read.result == "failure"
    assert read.steps[-1] == (
        "actions/download-artifact",
        1,
        "Artifact not found for name: nothing-a",
    )
    # A second run starts with none of the first's.
    again = local.run_workflow(local.workflows["artifacts.yml"])
    assert again["make"].result == "success" and again["read"].outputs["merged"] == "b"
