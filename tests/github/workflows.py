"""The repository's GitHub Actions files, read as GitHub reads them, and the
checks the tests run on them: the security rules zizmor does not cover and
the contract between the workflows and the `mlops` and `make` commands.

Each check returns the problems it found (text naming the file and job), so a
test can show both that the committed workflows pass and that a broken copy
fails.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github"
WORKFLOWS = GITHUB / "workflows"
SIGN_IN = "azure/login@"
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
# A command a deploying job runs: it changes what an environment serves (one
# model's endpoint or registry entry) or is (its infrastructure).
DEPLOYS_MODEL = re.compile(r"mlops (run|deploy|promote)\b")
DEPLOYING = re.compile(rf"{DEPLOYS_MODEL.pattern}|pulumi up\b")
# Where a job names the model its `mlops` commands work on.
MODEL_VARIABLE = "MLOPS_MODEL"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


@dataclass(frozen=True)
class Workflow:
    path: Path
    text: str
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def triggers(self) -> Mapping[str, Any]:
        # PyYAML reads the key `on` as the boolean True.
        on = self.data.get("on", self.data.get(True)) or {}
        on = [on] if isinstance(on, str) else on
        return {name: None for name in on} if isinstance(on, list) else on

    @property
    def jobs(self) -> Mapping[str, Mapping[str, Any]]:
        return self.data.get("jobs") or {}


def load(path: Path, text: str | None = None) -> Workflow:
    text = path.read_text(encoding="utf-8") if text is None else text
    return Workflow(path, text, yaml.safe_load(text))


def workflows() -> dict[str, Workflow]:
    return {p.name: load(p) for p in sorted(WORKFLOWS.glob("*.yml"))}


def composite_actions() -> list[Workflow]:
    return [load(p) for p in sorted((GITHUB / "actions").glob("*/action.yml"))]


def steps_of(job: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(job.get("steps") or [])


def called(job: Mapping[str, Any], known: Mapping[str, Workflow]) -> Workflow | None:
    """The reusable workflow of this repository that ``job`` calls, if any."""
    uses = str(job.get("uses") or "")
    name = re.sub(r"^(\$|\.)/\.github/workflows/", "", uses)
    return known.get(name) if name != uses else None


def signs_in(job: Mapping[str, Any], known: Mapping[str, Workflow]) -> bool:
    """Whether ``job`` signs in to Azure itself or through the workflow it calls."""
    if any(str(step.get("uses", "")).startswith(SIGN_IN) for step in steps_of(job)):
        return True
    reusable = called(job, known)
    return reusable is not None and any(signs_in(j, known) for j in reusable.jobs.values())


def run_scripts(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """(job name, script) of every `run:` step."""
    jobs = workflow.jobs or {"(composite)": (workflow.data.get("runs") or {})}
    for job_name, job in jobs.items():
        for step in steps_of(job):
            if "run" in step:
                yield job_name, str(step["run"])


# -- security rules ------------------------------------------------------------


def security_problems(known: Mapping[str, Workflow], actions: list[Workflow]) -> list[str]:
    problems: list[str] = []
    for workflow in [*known.values(), *actions]:
        problems += _pins(workflow) + _no_secrets(workflow) + _no_expressions_in_run(workflow)
        problems += _checkout_without_credentials(workflow)
    for workflow in known.values():
        problems += _triggers(workflow) + _top_permissions(workflow) + _bash_with_pipefail(workflow)
        for name, job in workflow.jobs.items():
            where = f"{workflow.name}: job {name}"
            problems += [f"{where}: {p}" for p in _job_problems(workflow, job, known)]
    return problems


def _pins(workflow: Workflow) -> list[str]:
    problems = []
    for line in workflow.text.splitlines():
        found = re.match(r"^\s*(?:-\s*)?uses:\s*(.+?)\s*$", line)
        if not found or found[1].startswith(("$/", "./")):
            continue
        if not PINNED.match(found[1]):
            problems.append(
                f"{workflow.name}: `uses: {found[1]}` is not pinned to a full commit SHA "
                "with its version in a comment (`owner/repo@<40 hex> # vX.Y.Z`)"
            )
    return problems


def _no_secrets(workflow: Workflow) -> list[str]:
    names = set(re.findall(r"secrets\.([A-Za-z_][\w-]*)", workflow.text))
    return [
        f"{workflow.name}: reads secrets.{name}; only GITHUB_TOKEN is allowed (sign in "
        "with OIDC, configure with environment variables)"
        for name in sorted(names - {"GITHUB_TOKEN"})
    ]


def _no_expressions_in_run(workflow: Workflow) -> list[str]:
    return [
        f"{workflow.name}: job {job}: a `run:` script holds `${{{{ ... }}}}`; pass the "
        "value through `env:` and use the variable"
        for job, script in run_scripts(workflow)
        if "${{" in script
    ]


def _checkout_without_credentials(workflow: Workflow) -> list[str]:
    jobs = workflow.jobs or {"(composite)": workflow.data.get("runs") or {}}
    return [
        f"{workflow.name}: job {name}: actions/checkout without persist-credentials: false"
        for name, job in jobs.items()
        for step in steps_of(job)
        if str(step.get("uses", "")).startswith("actions/checkout@")
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def _triggers(workflow: Workflow) -> list[str]:
    return [
        f"{workflow.name}: triggered by {event}, which runs with the base repository's "
        "secrets and permissions on untrusted code"
        for event in ("pull_request_target", "workflow_run")
        if event in workflow.triggers
    ]


def _bash_with_pipefail(workflow: Workflow) -> list[str]:
    # Without `shell: bash` GitHub runs `bash -e` without pipefail: `cmd | tee` hides failures.
    shell = ((workflow.data.get("defaults") or {}).get("run") or {}).get("shell")
    if shell == "bash" or not any(True for _ in run_scripts(workflow)):
        return []
    return [f"{workflow.name}: defaults.run.shell must be bash (pipefail), not {shell!r}"]


def _top_permissions(workflow: Workflow) -> list[str]:
    permissions = workflow.data.get("permissions")
    if permissions == {} or (
        isinstance(permissions, Mapping) and set(permissions.values()) <= {"read", "none"}
    ):
        return []
    return [
        f"{workflow.name}: top-level permissions must be {{}} or read-only, not {permissions!r}"
    ]


def _job_problems(
    workflow: Workflow, job: Mapping[str, Any], known: Mapping[str, Workflow]
) -> list[str]:
    problems = []
    permissions = job.get("permissions") or {}
    if signs_in(job, known) != (permissions.get("id-token") == "write"):
        problems.append("id-token: write must be granted exactly to the jobs that sign in to Azure")
    if "steps" in job and "timeout-minutes" not in job:
        problems.append("no timeout-minutes")
    guarded = SAME_REPOSITORY in str(job.get("if", ""))
    if signs_in(job, known) and "pull_request" in workflow.triggers and not guarded:
        problems.append(f"signs in on pull requests without `if: ... {SAME_REPOSITORY}`")
    reusable = called(job, known)
    if reusable is not None:
        problems += _call_problems(workflow, job, reusable)
    scripts = " ".join(str(step.get("run", "")) for step in steps_of(job))
    if DEPLOYING.search(scripts):
        problems += _deploy_guard(job, model=bool(DEPLOYS_MODEL.search(scripts)))
    return problems


_LEVELS = {"none": 0, "read": 1, "write": 2}


def _call_problems(workflow: Workflow, job: Mapping[str, Any], reusable: Workflow) -> list[str]:
    """A call GitHub would refuse when the run starts: an input the called
    workflow does not declare, a required one left out, or a called job asking
    for a permission the calling job does not grant (a nested job gets at most
    its caller's)."""
    declared = (reusable.triggers.get("workflow_call") or {}).get("inputs") or {}
    given = job.get("with") or {}
    problems = [
        f"passes input {name!r}, which {reusable.name} does not declare"
        for name in given
        if name not in declared
    ]
    problems += [
        f"does not pass {reusable.name}'s required input {name!r}"
        for name, spec in declared.items()
        if spec.get("required") and "default" not in spec and name not in given
    ]
    granted = _permissions(job, workflow)
    for name, inner in reusable.jobs.items():
        for scope, level in _permissions(inner, reusable).items():
            if _LEVELS.get(level, 0) > _LEVELS.get(granted.get(scope, "none"), 0):
                problems.append(
                    f"{reusable.name}'s job {name} asks for {scope}: {level}, which this job "
                    f"does not grant ({granted.get(scope, 'none')})"
                )
    return problems


def _permissions(job: Mapping[str, Any], workflow: Workflow) -> dict[str, str]:
    """What ``job`` asks for: its own `permissions`, else its workflow's."""
    permissions = job.get("permissions", workflow.data.get("permissions"))
    return dict(permissions) if isinstance(permissions, Mapping) else {}


def _deploy_guard(job: Mapping[str, Any], model: bool) -> list[str]:
    """A deploying job: bound to an environment and to one concurrency group,
    never cancelled half-way. A model's deploy (``model``) holds that model's
    group in the environment, `mlops-deploy-<model>-<environment>`, the model
    being the job's MLOPS_MODEL: deploys of one model wait for each other, other
    models deploy beside it. An infrastructure update holds the environment's,
    `mlops-deploy-<environment>`."""
    environment = str(job.get("environment") or "")
    concurrency = job.get("concurrency") or {}
    group = str(concurrency.get("group", "")) if isinstance(concurrency, Mapping) else ""
    problems = []
    if not environment:
        problems.append("deploys without an environment")
    if model:
        name = str((job.get("env") or {}).get(MODEL_VARIABLE, ""))
        if not name:
            problems.append(f"deploys a model without naming it in the job's env: {MODEL_VARIABLE}")
        if group != f"mlops-deploy-{name}-{environment}" or not name or not environment:
            problems.append(
                "deploys outside the concurrency group mlops-deploy-<model>-<environment> "
                f"(the job's {MODEL_VARIABLE} and environment): {group!r}"
            )
    else:
        literal = environment and "${{" not in environment
        if (literal and group != f"mlops-deploy-{environment}") or "mlops-deploy-" not in group:
            problems.append(
                f"deploys outside the concurrency group mlops-deploy-<environment> ({group!r})"
            )
    if not isinstance(concurrency, Mapping) or concurrency.get("cancel-in-progress") is not False:
        problems.append("deploys with a concurrency that may cancel it half-way")
    return problems


# -- the contract with the command line ----------------------------------------


def commands(script: str) -> Iterator[list[str]]:
    """Every `mlops ...` and `make ...` command line of a shell script, split as
    the shell would (variables left as written), those in `$( ... )` too."""
    joined = script.replace("\\\n", " ")
    for line in joined.splitlines():
        for part in re.split(r"\|\||&&|;|\||\$\(|\)", line):
            found = re.search(r"(?:^|\s)((?:\S*/)?(?:mlops|make)\s.*)$", part.strip())
            if found and not part.strip().startswith("#"):
                words = shlex.split(found[1], comments=True)
                if words and words[0].rsplit("/", 1)[-1] in ("mlops", "make"):
                    yield words


def command_problems(known: Mapping[str, Workflow]) -> list[str]:
    """Each `mlops` command parsed by the CLI's own parser, and naming its model
    (`--model` or MLOPS_MODEL set for the step) unless it works on the fork as a
    whole: with several models, mlops refuses a command that names none. Each
    `make` target looked up in the Makefile."""
    from mlops.cli import build_parser

    targets = set(re.findall(r"(?m)^([a-zA-Z][\w-]*):", (REPO / "Makefile").read_text()))
    problems = []
    for workflow in known.values():
        for job, variables, script in _run_steps(workflow):
            for words in commands(script):
                where = f"{workflow.name}: job {job}: `{shlex.join(words)}`"
                if words[0].endswith("make"):
                    missing = [w for w in words[1:] if "=" not in w and w not in targets]
                    problems += [f"{where}: no make target {w!r}" for w in missing]
                    continue
                try:
                    args = build_parser().parse_args([_placeholder(w) for w in words[1:]])
                except SystemExit:
                    problems.append(f"{where}: the mlops command line refuses it")
                    continue
                if _one_model(args) and args.model is None and MODEL_VARIABLE not in variables:
                    problems.append(
                        f"{where}: names no model (--model NAME, or {MODEL_VARIABLE} in the "
                        "step's, job's or workflow's env): with several models mlops refuses it"
                    )
    return problems


def _one_model(args: Any) -> bool:
    """Whether the parsed command works on one model (as mlops.cli dispatches it):
    every verb but `new-model` and `models list|affected`."""
    fork_wide = args.verb == "new-model" or (
        args.verb == "models" and args.action in ("list", "affected")
    )
    return not fork_wide


def _run_steps(workflow: Workflow) -> Iterator[tuple[str, set[str], str]]:
    """(job name, the variables its env, the step's and the workflow's set, script)
    of every `run:` step."""
    top = set(workflow.data.get("env") or {})
    jobs = workflow.jobs or {"(composite)": (workflow.data.get("runs") or {})}
    for job_name, job in jobs.items():
        for step in steps_of(job):
            if "run" in step:
                variables = top | set(job.get("env") or {}) | set(step.get("env") or {})
                yield job_name, variables, str(step["run"])


def _placeholder(word: str) -> str:
    return "1" if word.startswith("$") else word


def variable_problems(known: Mapping[str, Workflow], documented: set[str]) -> list[str]:
    """Every `vars.NAME` a workflow reads is one stack_env.py writes or the README
    documents; every `$NAME` a script reads is set by the workflow, the job, the
    step, the script itself or GitHub."""
    problems = []
    for workflow in known.values():
        for name in sorted(set(re.findall(r"\bvars\.([A-Za-z_]\w*)", workflow.text))):
            if name not in documented:
                problems.append(
                    f"{workflow.name}: reads vars.{name}, which neither infra/stack_env.py "
                    "writes nor the README documents"
                )
        top = set(workflow.data.get("env") or {})
        for job_name, job in workflow.jobs.items():
            job_env = top | set(job.get("env") or {})
            for step in steps_of(job):
                if "run" not in step:
                    continue
                script = str(step["run"])
                local = set(
                    re.findall(r"(?:^|[\s;])(?:for\s+)?([A-Za-z_]\w*)(?:=|\s+in\b)", script)
                )
                local |= set(re.findall(r"\bread\s+(?:-r\s+)?([A-Za-z_]\w*)", script))
                # jq's own variables: `jq --arg name "$VALUE" '... $name ...'`.
                local |= set(re.findall(r"--arg(?:json)?\s+([A-Za-z_]\w*)", script))
                have = job_env | set(step.get("env") or {}) | local
                for name in sorted(set(re.findall(r"\$\{?([A-Za-z_]\w*)", script))):
                    if name in have or name.startswith(("GITHUB_", "RUNNER_")) or name == "PWD":
                        continue
                    problems.append(f"{workflow.name}: job {job_name}: ${name} is never set")
    return problems
