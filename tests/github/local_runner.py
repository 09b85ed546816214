"""Run a workflow's `run:` steps on this machine as GitHub would run them for
an event: the jobs in `needs` order; reusable workflows called (nested too)
with their typed inputs, handing back their declared outputs; a job with a
`strategy.matrix` run once per combination; `if:` conditions with GitHub's
status functions; `${{ ... }}` values evaluated; step outputs read from
`GITHUB_OUTPUT` and each job's summary from `GITHUB_STEP_SUMMARY`. Artifacts
are kept per workflow run, as actions/upload-artifact and download-artifact v4
keep them (below). Steps that `uses:` another action (checkout, setup,
sign-in) are skipped: what they provide is already here (the project's git
history stands in for a checkout's).

GitHub's rules kept here:
- A push starts a workflow only when its `branches:` and `paths:` filters
  match (the files changed between the push's `before` and `after` commits;
  for a new branch, every file of `after`). Inputs are a workflow_dispatch's
  only, their declared defaults filled in.
- A job whose `if:` calls no status function is skipped unless every job it
  needs succeeded; `success()` is that, `failure()` is true when any job
  before it (through `needs`) failed, `cancelled()` is false (nothing cancels
  a run here). A step after a failed one runs only when its `if:` asks for it.
- A call passes only inputs the called workflow declares, every required one,
  of their type; the call's result is failure when one of its jobs failed.
- An artifact belongs to the workflow run (its called workflows share it); its
  name is unique in the run. Upload takes one `path` (a folder's contents, or a
  file) and `if-no-files-found` (warn, error or ignore); download takes `name`
  (into `path` itself; a missing one fails) or `pattern` (default every
  artifact: each into `path/<name>/`, or all into `path` with `merge-multiple`).
- A matrix of an empty list fails the job. With `fail-fast` (the default), the
  legs after a failed one are cancelled. The matrix job's result is failure
  when a leg failed (else cancelled when one was, else success), and each of
  its outputs is the last leg's that set it (on GitHub: the last to finish).
  The legs run one after another here; GitHub runs them at once.

The expression evaluator covers what these workflows use, with GitHub's
semantics (`==` compares text ignoring case and other types as numbers; `&&`
and `||` give one of their operands): contexts (`inputs`, `needs`, `steps`,
`env`, `vars`, `github`, `runner`, `matrix`, `strategy`, `jobs`), literals,
`==`, `!=`, `!`, `&&`, `||`, parentheses and the functions `success()`,
`failure()`, `cancelled()`, `always()`, `format()`, `fromJSON()`, `toJSON()`,
`contains()`, `startsWith()` and `endsWith()`; anything else raises, so a
workflow cannot silently escape the test.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.github.workflows import EXPRESSION, Workflow, called, steps_of

NO_COMMIT = "0" * 40  # a push's `before` when it creates the branch

_TOKEN = re.compile(
    r"\s+|(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<op>==|!=|&&|\|\||!|\(|\)|,)|(?P<name>[A-Za-z_][\w.\-]*)"
)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STATUS_CALL = re.compile(r"\b(?:success|failure|cancelled|always)\s*\(", re.I)


@dataclass(frozen=True)
class Status:
    """What the status functions of an `if:` answer: whether everything before
    succeeded (`success()`) and whether something before failed (`failure()`)."""

    success: bool = True
    failure: bool = False


# -- expressions ------------------------------------------------------------------


def evaluate(expression: str, context: Mapping[str, Any], status: Status | None = None) -> Any:
    """The value of a GitHub expression (without `${{ }}`) in ``context``; the
    status functions are allowed only where ``status`` is given (an `if:`)."""
    return _Parser(expression, context, status).parse()


class _Parser:
    """Recursive descent over GitHub's grammar, by precedence: `||`, `&&`,
    `==`/`!=`, `!`, then literals, context paths, calls and parentheses."""

    def __init__(self, expression: str, context: Mapping[str, Any], status: Status | None):
        self.expression, self.context, self.status = expression, context, status
        self.tokens = list(_tokens(expression))
        self.at = 0

    def parse(self) -> Any:
        value = self._or()
        if self.at < len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.at][1]!r}")
        return value

    def _fail(self, why: str):
        raise ValueError(f"cannot evaluate {self.expression!r}: {why}")

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            self._fail("it ends too early")
        self.at += 1
        return self.tokens[self.at - 1]

    def _expect(self, text: str) -> None:
        if self._take()[1] != text:
            self._fail(f"expected {text!r}")

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._equality()
        while self._peek() == "&&":
            self._take()
            right = self._equality()
            left = right if _truthy(left) else left
        return left

    def _equality(self) -> Any:
        left = self._unary()
        while self._peek() in ("==", "!="):
            equal = self._take()[1] == "=="
            left = _equal(left, self._unary()) == equal
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(" and kind == "op":
            value = self._or()
            self._expect(")")
            return value
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind != "name":
            self._fail(f"unexpected {text!r}")
        if self._peek() == "(":
            self._take()
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take()
            self._expect(")")
            return self._call(text, args)
        literal = {"true": True, "false": False, "null": None}
        return literal[text] if text in literal else _lookup(self.context, text)

    def _call(self, name: str, args: list[Any]) -> Any:
        name = name.lower()  # GitHub's function names ignore case
        if name in ("success", "failure", "cancelled", "always"):
            if self.status is None:
                self._fail(f"{name}() is only allowed in an if:")
            return {
                "success": self.status.success,
                "failure": self.status.failure,
                "cancelled": False,
                "always": True,
            }[name]
        if name not in _FUNCTIONS:
            self._fail(f"function {name}() is not supported")
        return _FUNCTIONS[name](*args)


def _tokens(expression: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(expression):
        token = _TOKEN.match(expression, position)
        if token is None:
            raise ValueError(f"cannot evaluate {expression!r} at {expression[position:]!r}")
        position = token.end()
        if token.lastgroup:
            yield token.lastgroup, token[token.lastgroup]


def _format(text: str, *args: Any) -> str:
    def replace(found: re.Match) -> str:
        return found[0][0] if found[1] is None else _text(args[int(found[1])])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", replace, text)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(_equal(value, item) for value in search)
    return _text(item).lower() in _text(search).lower()


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "format": _format,
    "fromjson": lambda text: json.loads(_text(text)),
    "tojson": lambda value: json.dumps(value, indent=2),
    "contains": _contains,
    "startswith": lambda text, prefix: _text(text).lower().startswith(_text(prefix).lower()),
    "endswith": lambda text, suffix: _text(text).lower().endswith(_text(suffix).lower()),
}


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, (list, dict)):
        return True
    return bool(value)


def _kind(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "object"


def _equal(left: Any, right: Any) -> bool:
    kinds = (_kind(left), _kind(right))
    if kinds == ("string", "string"):
        return left.lower() == right.lower()
    if kinds == ("object", "object"):
        return left is right
    if kinds[0] == kinds[1] and kinds[0] != "number":
        return left == right
    return _number(left) == _number(right)  # NaN equals nothing, itself included


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return float(bool(value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        return 0.0 if not text else float(text) if _JSON_NUMBER.fullmatch(text) else math.nan
    return math.nan


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every `${{ ... }}` in it replaced by its value (a value that
    is one expression keeps that expression's type: a list, a boolean)."""
    if not isinstance(value, str):
        return value
    whole = EXPRESSION.fullmatch(value.strip())
    if whole:
        return evaluate(whole[1].strip(), context)
    return EXPRESSION.sub(lambda m: _text(evaluate(m[1].strip(), context)), value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else str(value)


def condition(text: Any, context: Mapping[str, Any], status: Status = Status()) -> bool:
    """Whether an `if:` holds; without a status function in it, GitHub reads it
    as `success() && (<it>)`."""
    if text is None or text == "":
        return status.success
    if isinstance(text, bool):
        return status.success and text
    stripped = str(text).strip()
    whole = EXPRESSION.fullmatch(stripped)
    expression = whole[1] if whole else stripped
    if not _STATUS_CALL.search(expression):
        expression = f"success() && ({expression})"
    return _truthy(evaluate(expression, context, status))


# -- jobs -------------------------------------------------------------------------


@dataclass
class JobResult:
    result: str  # success, failure, cancelled or skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, int, str]] = field(default_factory=list)  # (name, exit, output)
    summary: str = ""  # the job summary: what its steps appended to GITHUB_STEP_SUMMARY
    jobs: dict[str, JobResult] = field(default_factory=dict)  # a called workflow's jobs
    legs: dict[str, JobResult] = field(default_factory=dict)  # a matrix job's, by its values


def _overall(results: list[str]) -> str:
    """A matrix's or a called workflow's result from those of its parts."""
    for result in ("failure", "cancelled", "success"):
        if result in results:
            return result
    return "skipped"


@dataclass
class LocalRunner:
    """Runs in ``project`` (a git work tree when a workflow reads its history)
    with ``environ`` as the runner's environment; ``vars`` per GitHub environment
    name ("" for the repository's own); ``override`` is applied over every step's
    environment last (it turns the workflows' Azure target into local
    environments). ``log`` gets (where, result) for each job and leg that ran,
    `where` naming the path to it: ``train-deploy.yml:path (wine-cultivar)/
    model-path.yml:dev/train-promote.yml:dev``."""

    project: Path
    environ: Mapping[str, str]
    workflows: Mapping[str, Workflow]
    vars: Mapping[str, Mapping[str, str]]
    override: Any  # (environment name) -> dict of variables
    scratch: Path
    log: list[tuple[str, JobResult]] = field(default_factory=list)
    _started: int = 0  # jobs run so far
    _runs: int = 0  # workflow runs so far
    _artifacts: Path = Path()  # the current workflow run's

    def run_workflow(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        event: str = "workflow_dispatch",
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, JobResult]:
        """Run ``workflow`` for ``event`` (``payload`` is its `github.event`; a push's
        holds `before` and `after`); ``inputs`` are a workflow_dispatch's. Returns
        its jobs' results, or {} when GitHub would not start it for that event."""
        payload = dict(payload or {})
        if event not in workflow.triggers:
            raise ValueError(f"{workflow.name} is not triggered by {event}")
        if not self._filters_match(workflow.triggers[event], event, payload):
            return {}
        if event != "workflow_dispatch" and inputs:
            raise ValueError(f"{event} gives a workflow no inputs")
        given = {}  # on any other event the inputs context is empty
        if event == "workflow_dispatch":
            given = _inputs(workflow, "workflow_dispatch", dict(inputs or {}), workflow.name)
        github = {
            "event_name": event,
            "event": payload,
            "sha": payload.get("after") or self._git("rev-parse", "HEAD").strip(),
            "ref": payload.get("ref", "refs/heads/main"),
            "repository": "owner/repo",
            "run_id": "1",
            "token": "",
        }
        self._runs += 1
        self._artifacts = self.scratch / f"artifacts-{self._runs}"
        self._artifacts.mkdir(parents=True)
        return self._run(workflow, given, github, workflow.name)

    def _filters_match(self, trigger: Any, event: str, payload: dict) -> bool:
        if event != "push" or not isinstance(trigger, Mapping):
            return True
        branch = str(payload.get("ref", "refs/heads/main")).removeprefix("refs/heads/")
        if "branches" in trigger and not _matches(trigger["branches"], branch):
            return False
        if "paths" not in trigger:
            return True
        before, after = payload.get("before", NO_COMMIT), payload["after"]
        if before == NO_COMMIT:
            changed = self._git("ls-tree", "-r", "--name-only", after)
        else:
            changed = self._git("diff", "--name-only", before, after)
        return any(_matches(trigger["paths"], path) for path in changed.splitlines())

    def _git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.project, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    def _run(
        self, workflow: Workflow, inputs: Mapping[str, Any], github: Mapping, where: str
    ) -> dict[str, JobResult]:
        done: dict[str, JobResult] = {}
        pending = dict(workflow.jobs)
        while pending:
            ready = [n for n, j in pending.items() if all(need in done for need in _needs(j))]
            if not ready:
                raise ValueError(f"{where}: jobs {sorted(pending)} need jobs that never run")
            name = ready[0]
            job = pending.pop(name)
            done[name] = self._job(workflow, name, job, inputs, github, done, f"{where}:{name}")
        return done

    def _job(self, workflow, name, job, inputs, github, done, where) -> JobResult:
        needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in _needs(job)}
        context = {
            "inputs": dict(inputs),
            "needs": needs,
            "github": github,
            "vars": dict(self.vars.get("", {})),
        }
        status = Status(
            success=all(done[n].result == "success" for n in _needs(job)),
            failure=any(done[n].result == "failure" for n in _ancestors(workflow, name)),
        )
        if not condition(job.get("if"), context, status):
            return JobResult("skipped")
        if "strategy" not in job:
            return self._leg(workflow, job, context, where)
        return self._matrix(workflow, job, context, where)

    def _matrix(self, workflow, job, context, where) -> JobResult:
        strategy = job["strategy"]
        unknown = set(strategy) - {"matrix", "fail-fast", "max-parallel"}
        matrix = render(strategy.get("matrix"), context)
        if unknown or not isinstance(matrix, Mapping) or {"include", "exclude"} & set(matrix):
            raise ValueError(f"{where}: only a matrix of named lists is run here: {strategy!r}")
        vectors = {key: render(values, context) for key, values in matrix.items()}
        for key, values in vectors.items():
            if not isinstance(values, list) or not values:
                why = f"Matrix vector '{key}' does not contain any values ({values!r})"
                return JobResult("failure", steps=[("strategy", 1, f"{where}: {why}")])
        fail_fast = render(strategy.get("fail-fast", True), context)
        result = JobResult("success")
        combinations = list(itertools.product(*vectors.values()))
        total = len(combinations)
        for index, combination in enumerate(combinations):
            label = ", ".join(_text(value) for value in combination)
            if fail_fast and any(leg.result == "failure" for leg in result.legs.values()):
                result.legs[label] = JobResult("cancelled")
                continue
            leg_context = {
                **context,
                "matrix": dict(zip(vectors, combination, strict=True)),
                "strategy": {"fail-fast": fail_fast, "job-index": index, "job-total": total},
            }
            leg = self._leg(workflow, job, leg_context, f"{where} ({label})")
            result.legs[label] = leg
            result.outputs.update({key: value for key, value in leg.outputs.items() if value})
        result.result = _overall([leg.result for leg in result.legs.values()])
        return result

    def _leg(self, workflow, job, context, where) -> JobResult:
        reusable = called(job, self.workflows)
        if reusable is not None:
            result = self._call(reusable, job, context, where)
        elif "uses" in job:
            raise ValueError(f"{where}: calls {job['uses']}, not a workflow of this repository")
        else:
            result = self._run_job(workflow, job, context)
        self.log.append((where, result))
        return result

    def _call(self, reusable: Workflow, job, context, where) -> JobResult:
        if "workflow_call" not in reusable.triggers:
            raise ValueError(f"{where}: {reusable.name} has no workflow_call trigger")
        spec = reusable.triggers["workflow_call"] or {}
        given = {key: render(value, context) for key, value in (job.get("with") or {}).items()}
        inputs = _inputs(reusable, "workflow_call", given, where)
        inner = self._run(reusable, inputs, context["github"], f"{where}/{reusable.name}")
        jobs = {n: {"result": r.result, "outputs": r.outputs} for n, r in inner.items()}
        outputs = {
            key: _text(render(output["value"], {"jobs": jobs}))
            for key, output in (spec.get("outputs") or {}).items()
        }
        result = _overall([r.result for r in inner.values()] + ["success"])
        return JobResult(result, outputs, jobs=inner)

    def _run_job(self, workflow: Workflow, job: Mapping[str, Any], context: dict) -> JobResult:
        if "continue-on-error" in job or any("continue-on-error" in s for s in steps_of(job)):
            raise ValueError("continue-on-error is not run here")
        environment = render(job.get("environment", ""), context)
        if isinstance(environment, Mapping):
            environment = render(environment.get("name", ""), context)
        environment = _text(environment)
        self._started += 1
        temp = self.scratch / f"job-{self._started}"  # RUNNER_TEMP: a new one for every job
        temp.mkdir(parents=True)
        context = {
            **context,
            "vars": {**context["vars"], **self.vars.get(environment, {})},
            "steps": {},
            "runner": {"temp": str(temp)},
        }
        env = {k: _text(render(v, context)) for k, v in (workflow.data.get("env") or {}).items()}
        env.update({k: _text(render(v, context)) for k, v in (job.get("env") or {}).items()})
        context["env"] = env
        result = JobResult("success")
        for index, step in enumerate(steps_of(job)):
            step_id = step.get("id", f"__step{index}")
            failed = result.result == "failure"
            if not condition(step.get("if"), context, Status(not failed, failed)):
                context["steps"][step_id] = _step(outcome="skipped")
                continue
            action = str(step.get("uses", "")).partition("@")[0]
            if action in ARTIFACT_ACTIONS:
                spec = {k: _text(render(v, context)) for k, v in (step.get("with") or {}).items()}
                code, said = ARTIFACT_ACTIONS[action](self._artifacts, spec, self.project)
                context["steps"][step_id] = _step("success" if code == 0 else "failure")
                result.steps.append((step.get("name", action), code, said))
                if code != 0:
                    result.result = "failure"
                continue
            if "run" not in step:
                context["steps"][step_id] = _step(outcome="success")
                continue  # an action: what it provides is already here
            step_env = {k: _text(render(v, context)) for k, v in (step.get("env") or {}).items()}
            outputs_file, summary_file = temp / f"output-{index}", temp / f"summary-{index}"
            outputs_file.write_text("")
            summary_file.write_text("")
            full = {
                **self.environ,
                **env,
                **step_env,
                "GITHUB_OUTPUT": str(outputs_file),
                "GITHUB_STEP_SUMMARY": str(summary_file),
                "RUNNER_TEMP": str(temp),
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
            outcome = "success" if done.returncode == 0 else "failure"
            context["steps"][step_id] = _step(outcome=outcome, outputs=outputs)
            result.summary += summary_file.read_text()
            result.steps.append(
                (step.get("name", step_id), done.returncode, done.stdout + done.stderr)
            )
            if done.returncode != 0:
                result.result = "failure"
        result.outputs = {
            k: _text(render(v, context)) for k, v in (job.get("outputs") or {}).items()
        }
        return result


def _upload(artifacts: Path, spec: Mapping[str, str], workspace: Path) -> tuple[int, str]:
    name = spec.get("name") or "artifact"
    if "\n" in spec["path"].strip():
        raise ValueError(f"upload-artifact {name}: only one path is uploaded here")
    source = workspace / spec["path"].strip()
    if not (source.is_file() or (source.is_dir() and any(source.rglob("*")))):
        missing = spec.get("if-no-files-found", "warn")
        said = f"No files were found with the provided path: {spec['path']}. No artifact"
        return (1 if missing == "error" else 0), said
    kept = artifacts / name
    if kept.exists():
        return 1, f"an artifact with the name {name!r} already exists in this run"
    if source.is_dir():
        shutil.copytree(source, kept)
    else:
        kept.mkdir()
        shutil.copy2(source, kept / source.name)
    return 0, f"artifact {name} uploaded"


def _download(artifacts: Path, spec: Mapping[str, str], workspace: Path) -> tuple[int, str]:
    into = workspace / spec.get("path", ".")
    if spec.get("name"):
        kept = artifacts / spec["name"]
        if not kept.is_dir():
            return 1, f"Artifact not found for name: {spec['name']}"
        shutil.copytree(kept, into, dirs_exist_ok=True)
        return 0, f"artifact {spec['name']} downloaded"
    pattern = spec.get("pattern") or "*"
    found = sorted(p for p in artifacts.iterdir() if fnmatch.fnmatchcase(p.name, pattern))
    merge = spec.get("merge-multiple", "false") == "true"
    for kept in found:
        shutil.copytree(kept, into if merge else into / kept.name, dirs_exist_ok=True)
    return 0, f"{len(found)} artifact(s) downloaded"


ARTIFACT_ACTIONS = {
    "actions/upload-artifact": _upload,
    "actions/download-artifact": _download,
}


def _step(outcome: str, outputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"outputs": dict(outputs or {}), "outcome": outcome, "conclusion": outcome}


def _inputs(workflow: Workflow, trigger: str, given: dict[str, Any], where: str) -> dict[str, Any]:
    """``given`` checked against the inputs ``trigger`` declares, typed, with the
    declared defaults (or the type's empty value) for the rest."""
    declared = (workflow.triggers.get(trigger) or {}).get("inputs") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"{where}: {workflow.name} declares no input {', '.join(unknown)}")
    inputs = {}
    for key, spec in declared.items():
        kind = spec.get("type", "string")
        if key not in given and spec.get("required") and "default" not in spec:
            raise ValueError(f"{where}: {workflow.name} requires the input {key}")
        value = given.get(key, spec.get("default", {"boolean": False, "number": 0}.get(kind, "")))
        if kind == "boolean" and not isinstance(value, bool):
            if _text(value) not in ("true", "false"):
                raise ValueError(f"{where}: input {key} of {workflow.name} is a boolean: {value!r}")
            value = _text(value) == "true"
        elif kind == "number":
            value = _number(value)
        elif kind != "boolean":
            value = _text(value)
        inputs[key] = value
    return inputs


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _ancestors(workflow: Workflow, name: str) -> set[str]:
    """Every job ``name`` needs, directly or through the jobs it needs."""
    found: set[str] = set()
    todo = _needs(workflow.jobs[name])
    while todo:
        need = todo.pop()
        if need not in found:
            found.add(need)
            todo += _needs(workflow.jobs.get(need) or {})
    return found


def _matches(patterns: Any, name: str) -> bool:
    """Whether a push filter's glob ``patterns`` take ``name`` (the last pattern
    matching it decides; `!` excludes): `*` stops at a slash, `**` does not."""
    taken = False
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        negated = pattern.startswith("!")
        glob = re.escape(pattern.removeprefix("!"))
        glob = glob.replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*")
        glob = glob.replace(r"\?", "[^/]")
        if re.fullmatch(glob, name):
            taken = not negated
    return taken


def runner_environ() -> dict[str, str]:
    """The environment a step starts from: this process's, minus what GitHub
    would not have set (a developer's MLOPS_* choices)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
