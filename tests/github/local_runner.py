"""Run a workflow's `run:` steps on this machine, in order, as GitHub would
call them: jobs in `needs` order, reusable workflows called with their
inputs, `if:` conditions and `${{ ... }}` values evaluated, step outputs read
from `GITHUB_OUTPUT`. Steps that `uses:` an action (checkout, setup, sign-in,
artifacts) are skipped: what they provide is already here.

The expression evaluator covers what these workflows use: contexts
(`inputs`, `needs`, `steps`, `env`, `vars`, `github`, `runner`, `matrix`),
string literals, `==`, `!=`, `!`, `&&`, `||`, parentheses and the functions
`cancelled()`, `failure()`, `always()`, `success()` and `format()`; anything
else raises, so a workflow cannot silently escape the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.github.workflows import EXPRESSION, Workflow, called, steps_of

_TOKEN = re.compile(
    r"\s+|(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<name>[A-Za-z_][\w.\-]*)|(?P<number>\d+)"
)
_FUNCTIONS = {"cancelled": False, "failure": False, "always": True, "success": True}


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of a GitHub expression (without `${{ }}`) in ``context``."""
    python: list[str] = []
    values: dict[str, Any] = {}
    position = 0
    while position < len(expression):
        token = _TOKEN.match(expression, position)
        if token is None:
            raise ValueError(f"cannot evaluate {expression!r} at {expression[position:]!r}")
        position = token.end()
        if token["string"]:
            values[f"_v{len(values)}"] = token["string"][1:-1].replace("''", "'")
            python.append(f"_v{len(values) - 1}")
        elif token["op"]:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(token["op"], token["op"]))
        elif token["number"]:
            python.append(token["number"])
        elif token["name"]:
            name = token["name"]
            if expression[position : position + 1] == "(":
                if name == "format":
                    python.append("_format")
                elif name in _FUNCTIONS:
                    python.append(f"(lambda: {_FUNCTIONS[name]})")
                else:
                    raise ValueError(f"function {name}() is not supported: {expression!r}")
            elif name in ("true", "false"):
                python.append(name.capitalize())
            else:
                values[f"_v{len(values)}"] = _lookup(context, name)
                python.append(f"_v{len(values) - 1}")
    values["_format"] = lambda text, *args: re.sub(
        r"\{(\d+)\}", lambda m: str(args[int(m[1])]), text
    )
    return eval("".join(python), {"__builtins__": {}}, values)  # our own tokens only


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every `${{ ... }}` in it replaced by its value."""
    if not isinstance(value, str):
        return value
    whole = EXPRESSION.fullmatch(value.strip())
    if whole:
        return evaluate(whole[1].strip(), context)
    return EXPRESSION.sub(lambda m: _text(evaluate(m[1].strip(), context)), value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def condition(text: Any, context: Mapping[str, Any]) -> bool:
    if text is None:
        return True
    stripped = str(text).strip()
    whole = EXPRESSION.fullmatch(stripped)
    return bool(evaluate(whole[1] if whole else stripped, context))


@dataclass
class JobResult:
    result: str  # success, skipped or failure
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, int, str]] = field(default_factory=list)  # (name, exit, output)


@dataclass
class LocalRunner:
    """Runs in ``project`` with ``environ`` as the runner's environment; ``vars``
    per GitHub environment name (what each environment's variables hold here);
    ``override`` is applied over every step's environment last (it turns the
    workflows' Azure target into local environments)."""

    project: Path
    environ: Mapping[str, str]
    workflows: Mapping[str, Workflow]
    vars: Mapping[str, Mapping[str, str]]
    override: Any  # (environment name) -> dict of variables
    scratch: Path
    log: list[tuple[str, JobResult]] = field(default_factory=list)

    def run_workflow(self, workflow: Workflow, inputs: Mapping[str, Any]) -> dict[str, JobResult]:
        done: dict[str, JobResult] = {}
        pending = dict(workflow.jobs)
        while pending:
            name, job = next(
                (n, j) for n, j in pending.items() if all(need in done for need in _needs(j))
            )
            del pending[name]
            needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in _needs(job)}
            context = {"inputs": dict(inputs), "needs": needs, "github": self._github()}
            # Without a status function in its `if`, a job whose needs did not all
            # succeed is skipped, as GitHub does.
            checks_status = "()" in str(job.get("if", ""))
            if not checks_status and any(done[n].result != "success" for n in _needs(job)):
                done[name] = JobResult("skipped")
                continue
            if not condition(job.get("if"), context):
                done[name] = JobResult("skipped")
                continue
            reusable = called(job, self.workflows)
            if reusable is not None:
                with_inputs = {k: render(v, context) for k, v in (job.get("with") or {}).items()}
                declared = reusable.triggers["workflow_call"].get("inputs") or {}
                for key, spec in declared.items():
                    with_inputs.setdefault(key, spec.get("default", ""))
                inner = self.run_workflow(reusable, with_inputs)
                result = (
                    "failure" if any(r.result == "failure" for r in inner.values()) else "success"
                )
                outputs_context = {"jobs": {n: {"outputs": r.outputs} for n, r in inner.items()}}
                declared_outputs = reusable.triggers["workflow_call"].get("outputs") or {}
                outputs = {
                    key: _text(render(spec["value"], outputs_context))
                    for key, spec in declared_outputs.items()
                }
                done[name] = JobResult(result, outputs)
            else:
                done[name] = self._run_job(workflow, job, context)
            self.log.append((f"{workflow.name}:{name}", done[name]))
        return done

    def _github(self) -> dict[str, Any]:
        return {"event_name": "workflow_dispatch", "repository": "owner/repo", "run_id": "1"}

    def _run_job(self, workflow: Workflow, job: Mapping[str, Any], context: dict) -> JobResult:
        environment = _text(render(job.get("environment", ""), context))
        context = {**context, "vars": dict(self.vars.get(environment, {})), "steps": {}}
        context["runner"] = {"temp": str(self.scratch)}
        env = {k: _text(render(v, context)) for k, v in (workflow.data.get("env") or {}).items()}
        env.update({k: _text(render(v, context)) for k, v in (job.get("env") or {}).items()})
        context["env"] = env
        result = JobResult("success")
        for index, step in enumerate(steps_of(job)):
            step_id = step.get("id", f"step{index}")
            if "run" not in step or not condition(step.get("if"), context):
                continue
            step_env = {k: _text(render(v, context)) for k, v in (step.get("env") or {}).items()}
            outputs_file = self.scratch / f"output-{len(self.log)}-{index}"
            outputs_file.write_text("")
            summary = self.scratch / "summary.md"
            full = {
                **self.environ,
                **env,
                **step_env,
                "GITHUB_OUTPUT": str(outputs_file),
                "GITHUB_STEP_SUMMARY": str(summary),
                "RUNNER_TEMP": str(self.scratch),
                **self.override(environment),
            }
            done = subprocess.run(
                # What `shell: bash` runs on GitHub: -e and pipefail.
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", str(step["run"])],
                cwd=self.project,
                env=full,
                capture_output=True,
                text=True,
                timeout=600,
            )
            outputs = dict(
                line.split("=", 1) for line in outputs_file.read_text().splitlines() if "=" in line
            )
            context["steps"][step_id] = {"outputs": outputs}
            result.steps.append(
                (step.get("name", step_id), done.returncode, done.stdout + done.stderr)
            )
            if done.returncode != 0:
                result.result = "failure"
                break
        result.outputs = {
            k: _text(render(v, context)) for k, v in (job.get("outputs") or {}).items()
        }
        return result


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def runner_environ() -> dict[str, str]:
    """The environment a step starts from: this process's, minus what GitHub
    would not have set (a developer's MLOPS_* choices)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
