"""The README's Azure quickstart, run in the order written, with no cloud and
no Pulumi CLI.

The shell blocks of the quickstart section are read out of README.md, and
each command in them runs as its offline equivalent, fed with what the
commands before it produced: bootstrap.py against the fake Azure of
test_bootstrap, `pulumi login` against the state storage bootstrap made,
`pulumi config set` into the stack's config, `pulumi preview|up` as the
project's program under mocks (offline.py) with that config and the policy
rules with the pack config the command names (as the prose asks it edited;
the platform program reads its repository from the same file), an environment's
StackReference answered only by a platform stack already up, and
`pulumi stack output --json | ... stack_env.py` fed with that environment's
outputs. The environment steps run again for every environment the
platform creates. A command with no equivalent here fails the test with the
command in the message, unless CANNOT_RUN lists it with the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

import bootstrap
import config as stack_config
import offline
from policy.rules import committed_config, verdicts
from tests.infra import test_bootstrap
from tests.infra.conftest import INFRA, plan_of, platform_plan_if_run

ROOT = INFRA.parent
README = ROOT / "README.md"

# The README's placeholders, and what the reader would put there.
REPOSITORY = "octo-org/credit-mlops"
PLACEHOLDERS = {
    # The committed plans' subscription, so that their session cache serves here.
    "SUBSCRIPTION_ID": offline.SUBSCRIPTION_ID,
    "OWNER/REPO": REPOSITORY,
    "GROUP_OBJECT_ID": "6f1d8c2a-5b3e-4f70-9a11-2c4d6e8f0a1b",
    "UNIQUE": "qs01",  # stpulumiUNIQUE: a storage account name nobody has taken
}

# Commands that cannot run here at all, each with its reason. Anything else in
# the quickstart needs an offline equivalent in handler() below.
CANNOT_RUN = {
    ("az", "login"): "an interactive sign-in to Azure; the fake Azure and the mocks need none",
}

# The README asks for this edit of infra/policy/config.json in prose, before the
# platform's preview: the pack's repository, the platform's too, is the reader's.
# The committed file is shared by the tests running beside this one, so the
# edited file is a copy the platform's policyConfig names instead.
POLICY_EDIT = {"github-oidc-per-environment": {"githubRepository": REPOSITORY}}

# The assignee as the README writes it: the signed-in administrator's own object id.
SIGNED_IN_USER = "$(az ad signed-in-user show --query id -o tsv)"
STATE_WRITER_ROLES = ("Storage Blob Data Contributor", "Storage Blob Data Owner")


@dataclass
class Command:
    step: int  # the quickstart's numbered step
    text: str  # as the README writes it (placeholders filled)
    pipeline: list[list[str]]  # argv of each command of a `|` pipeline
    shown: list[str] = field(default_factory=list)  # the `# ...` output lines after it


@dataclass
class Block:
    step: int
    text: str


def quickstart_blocks(readme: str = "") -> list[Block]:
    """The ```sh blocks of the README's "Azure quickstart" section, in order,
    each with the number of the step it belongs to."""
    text = readme or README.read_text()
    start = text.index("### Azure quickstart")
    end = re.compile(r"^#{1,3} ", re.MULTILINE).search(text, start + 1)
    section = text[start : end.start() if end else len(text)]
    blocks = []
    for found in re.finditer(r"^( *)```sh\n(.*?)^\1```", section, re.MULTILINE | re.DOTALL):
        steps = re.findall(r"^(\d+)\. ", section[: found.start()], re.MULTILINE)
        body = "\n".join(line.removeprefix(found.group(1)) for line in found.group(2).splitlines())
        blocks.append(Block(int(steps[-1]) if steps else 0, body))
    return blocks


def fill(text: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


def commands(block: Block) -> list[Command]:
    """The commands of a block: `\\` continuations joined, `&&` chains split,
    `|` pipelines kept together; a comment line after a command is output it shows."""
    found: list[Command] = []
    for line in fill(block.text).replace("\\\n", " ").splitlines():
        if line.strip().startswith("#"):
            if found:
                found[-1].shown.append(line.strip().removeprefix("#").strip())
            continue
        tokens = shlex.split(line, comments=True)
        chain: list[list[str]] = [[]]
        for token in tokens:
            if token == "&&":
                chain.append([])
            else:
                chain[-1].append(token)
        for argv in filter(None, chain):
            pipeline: list[list[str]] = [[]]
            for token in argv:
                if token == "|":
                    pipeline.append([])
                else:
                    pipeline[-1].append(token)
            text = shlex.join(argv).replace("'|'", "|")
            found.append(Command(block.step, text, pipeline))
    return found


def fail(command: Command, why: str):
    pytest.fail(f"README quickstart step {command.step}, `{command.text}`: {why}", pytrace=False)


@dataclass
class Session:
    """What the commands so far have left behind: the shell's folder, the fake
    Azure, the Pulumi backend with its stacks and their config."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    cwd: Path = ROOT
    subscription: str | None = None
    arm: test_bootstrap.FakeArm | None = None
    bootstrap_output: list[str] = field(default_factory=list)
    state_storage: tuple[str, str] | None = None  # (resource group, account) bootstrap made
    state_writer: bool = False  # the administrator may read and write the state container
    backend: str | None = None
    stacks: set[tuple[str, str]] = field(default_factory=set)  # (project, stack) in the backend
    selected: dict[Path, str] = field(default_factory=dict)  # project folder -> its stack
    config: dict[tuple[Path, str], dict] = field(default_factory=dict)  # `pulumi config set`
    plans: dict[tuple, offline.Plan] = field(default_factory=dict)
    up: dict[str, offline.Plan] = field(default_factory=dict)  # ORG/PROJECT/STACK -> plan
    printed: dict[str, dict[str, str]] = field(default_factory=dict)  # stack -> variables
    ml_configs: dict[str, dict] = field(default_factory=dict)  # stack -> config.json
    environment_start: tuple[int, Path, str] | None = None  # block, cwd, stack name

    def project(self, command: Command) -> tuple[Path, str]:
        """The Pulumi project of the shell's folder, and its name."""
        project_file = self.cwd / "Pulumi.yaml"
        if not project_file.is_file():
            fail(command, f"{self.cwd.relative_to(ROOT) or '.'} holds no Pulumi.yaml")
        return self.cwd, yaml.safe_load(project_file.read_text())["name"]

    def stack(self, command: Command) -> tuple[Path, str, str]:
        """The project folder, its name and the selected stack, for a command
        that needs a backend and a stack."""
        if self.backend is None:
            fail(command, "no `pulumi login` before it")
        folder, project = self.project(command)
        if folder not in self.selected:
            fail(command, "no stack selected (`pulumi stack init` or `select`) in this folder")
        return folder, project, self.selected[folder]


def resolve(session: Session, command: Command, path: str, expected: Path) -> None:
    """``path`` read from the shell's folder must be ``expected``."""
    if (session.cwd / path).resolve() != expected.resolve():
        fail(command, f"{path} from {session.cwd} is not {expected.relative_to(ROOT)}")


def python(session: Session, command: Command, name: str) -> str:
    if "/" not in name:
        return sys.executable
    path = session.cwd / name
    if not path.exists():
        fail(command, f"{name} does not exist from {session.cwd}")
    return str(path)


def options(command: Command, argv: list[str], known: dict[str, bool]) -> tuple[dict, list]:
    """Options of ``argv`` (name -> takes a value) and the positional arguments;
    an option the test does not know fails the test."""
    found, positional, rest = {}, [], list(argv)
    while rest:
        token = rest.pop(0)
        if token.startswith("-"):
            if token not in known:
                fail(command, f"option {token} has no offline equivalent in this test")
            found[token] = rest.pop(0) if known[token] else True
        else:
            positional.append(token)
    return found, positional


# One function per command: the offline equivalent.


def make_setup(session: Session, command: Command) -> None:
    # It installs the locked packages, which this test runs with; `make -n`
    # shows the target exists from the shell's folder without installing.
    done = subprocess.run(
        ["make", "-n", *command.pipeline[0][1:]],
        cwd=session.cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        fail(command, done.stderr.strip())


def az_account_set(session: Session, command: Command) -> None:
    # The subscription the Azure CLI signs in to is the one the Pulumi programs
    # see (getClientConfig) and the fake Azure answers for.
    session.subscription = command.pipeline[0][-1]
    providers = dict.fromkeys(bootstrap.REQUIRED_PROVIDERS, "Registered")
    session.arm = test_bootstrap.FakeArm(providers, subscription=session.subscription)


def run_bootstrap(session: Session, command: Command) -> None:
    argv = command.pipeline[0]
    python(session, command, argv[0])
    resolve(session, command, argv[1], INFRA / "bootstrap.py")
    if session.arm is None:
        fail(command, "no `az account set` before it: no subscription to talk to")
    arm = session.arm
    session.monkeypatch.setattr("azure.identity.DefaultAzureCredential", test_bootstrap.Token)
    session.monkeypatch.setattr(
        "azure.mgmt.resource.resources.ResourceManagementClient",
        lambda credential, subscription_id: test_bootstrap.client(arm),
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = bootstrap.main(argv[2:])
    session.bootstrap_output = out.getvalue().splitlines()
    if code != 0:
        fail(command, f"exit code {code}:\n{out.getvalue()}")
    containers = [
        path
        for method, path, _ in arm.calls
        if method == "PUT" and path.endswith(f"/containers/{bootstrap.STATE_CONTAINER}")
    ]
    if not containers:
        fail(command, "created no state container")
    parts = containers[-1].split("/")
    session.state_storage = (parts[4], parts[8])


def az_role_assignment(session: Session, command: Command) -> None:
    found, _ = options(
        command,
        command.pipeline[0][4:],
        {"--role": True, "--assignee-object-id": True, "--assignee-principal-type": True,
         "--scope": True},
    )  # fmt: skip
    if session.state_storage is None:
        fail(command, "no state storage created before it")
    group, account = session.state_storage
    container = bootstrap.state_container_id(session.subscription, group, account)
    if found.get("--scope", "").lower() not in (
        container.lower(),
        container.split("/blobServices/")[0].lower(),
    ):
        fail(command, f"the scope is not the state container bootstrap made: {container}")
    if found.get("--role") not in STATE_WRITER_ROLES:
        fail(command, f"the role lets no one write the state: expected {STATE_WRITER_ROLES}")
    if found.get("--assignee-object-id") != SIGNED_IN_USER:
        fail(command, "the grant is not for the signed-in administrator")
    session.state_writer = True


def pulumi_login(session: Session, command: Command) -> None:
    url = urlparse(command.pipeline[0][2])
    account = parse_qs(url.query).get("storage_account", [None])[0]
    if url.scheme != "azblob" or url.netloc != bootstrap.STATE_CONTAINER:
        fail(command, f"the backend is not azblob://{bootstrap.STATE_CONTAINER}")
    if session.state_storage is None or account != session.state_storage[1]:
        fail(command, f"storage_account={account} is not the account bootstrap created")
    if not session.state_writer:
        # The account takes no keys: the CLI reads .pulumi/meta.yaml with the
        # signed-in identity, and Azure answers 403 AuthorizationPermissionMismatch.
        fail(command, "the signed-in administrator has no blob data role on the state container")
    session.backend = command.pipeline[0][2]


def cd(session: Session, command: Command) -> None:
    folder = (session.cwd / command.pipeline[0][1]).resolve()
    if not folder.is_dir() or not folder.is_relative_to(ROOT):
        fail(command, f"no folder {folder} in the repository (the shell is in {session.cwd})")
    session.cwd = folder


def pulumi_stack(session: Session, command: Command) -> None:
    verb, name = command.pipeline[0][2:]
    if session.backend is None:
        fail(command, "no `pulumi login` before it")
    folder, project = session.project(command)
    exists = (project, name) in session.stacks
    if verb == "init" and exists:
        fail(command, f"stack {name} exists already")
    if verb == "select" and not exists:
        fail(command, f"no stack {name} (`pulumi stack init {name}` creates it)")
    if not (folder / f"Pulumi.{name}.yaml").is_file():
        fail(command, f"the template has no {folder.name}/Pulumi.{name}.yaml for stack {name}")
    session.stacks.add((project, name))
    session.selected[folder] = name


def pulumi_config_set(session: Session, command: Command) -> None:
    found, positional = options(command, command.pipeline[0][3:], {"--path": False})
    folder, project, stack = session.stack(command)
    if len(positional) != 2:
        fail(command, "expected KEY VALUE")
    key, value = positional
    key = key.removeprefix(f"{project}:")
    name, index = key, None
    if "--path" in found:
        path = re.fullmatch(r"(\w+)\[(\d+)\]", key)
        if not path:
            fail(command, f"path {key!r} has no offline equivalent in this test")
        name, index = path.group(1), int(path.group(2))
    declared = yaml.safe_load((folder / "Pulumi.yaml").read_text()).get("config", {})
    if name not in declared:
        fail(command, f"{project} declares no config key {name!r}: its program never reads it")
    values = session.config.setdefault((folder, stack), {})
    if index is None:
        values[name] = value
        return
    stack_file = yaml.safe_load((folder / f"Pulumi.{stack}.yaml").read_text()) or {}
    items = list(values.get(name, stack_file.get("config", {}).get(f"{project}:{name}", [])))
    if index > len(items):
        fail(command, f"{name}[{index}] leaves a gap: the list has {len(items)} items")
    items[index : index + 1] = [value]
    values[name] = items


def pulumi_preview_or_up(session: Session, command: Command) -> None:
    verb = command.pipeline[0][1]
    found, _ = options(
        command,
        command.pipeline[0][2:],
        {"--policy-pack": True, "--policy-pack-config": True},
    )
    folder, project, stack = session.stack(command)
    policy_config = None
    edited: dict[str, str] = {}
    if "--policy-pack" in found:
        resolve(session, command, found["--policy-pack"], INFRA / "policy")
        config_path = session.cwd / found.get("--policy-pack-config", "")
        resolve(session, command, str(config_path), INFRA / "policy" / "config.json")
        policy_config = {**json.loads(config_path.read_text()), **POLICY_EDIT}
        if folder == offline.PLATFORM:
            edited = {"policyConfig": str(edited_policy_config(session, command, config_path))}
    plan = program_plan(session, command, folder, stack, edited)
    if policy_config is not None:
        refused = [
            f"{r.name}: {message}"
            for r in plan.resources
            for messages in verdicts(r.type, r.inputs, plan.stack, policy_config).values()
            for message in messages
        ]
        if refused:
            fail(command, "the policy pack refuses it:\n" + "\n".join(refused))
    if verb == "up":
        session.up[f"organization/{project}/{stack}"] = plan


def edited_policy_config(session: Session, command: Command, named: Path) -> Path:
    """The pack config the command names, with the prose's edit, as a copy the
    platform program reads instead; fails unless the platform's policyConfig
    names the same file the command passes to the pack."""
    folder, _, stack = session.stack(command)
    values = offline.stack_values(stack, session.config.get((folder, stack), {}), folder)
    if (folder / values["policyConfig"]).resolve() != named.resolve():
        fail(command, f"the platform's policyConfig {values['policyConfig']} is not {named}")
    copy = session.tmp / "policy-config.json"
    copy.write_text(json.dumps({**json.loads(named.read_text()), **POLICY_EDIT}))
    return copy


def program_plan(
    session: Session, command: Command, folder: Path, stack: str, edited: dict | None = None
) -> offline.Plan:
    """The project's program run under mocks with the stack's config (and the
    ``edited`` values standing in for files the prose edits); preview and up of
    the same config share one run."""
    overrides = {**session.config.get((folder, stack), {}), **(edited or {})}
    key = (folder, stack, json.dumps(overrides, sort_keys=True))
    if key in session.plans:
        return session.plans[key]
    if folder == offline.PLATFORM:
        plan = offline.run_platform(stack, overrides, subscription_id=session.subscription)
    else:
        values = offline.stack_values(stack, overrides)
        reference = stack_config.parse(values, stack).platform_stack
        if reference not in session.up:
            fail(command, f"its StackReference {reference} names no stack that is up")
        platform = session.up[reference]
        committed = platform_plan_if_run()
        if (
            committed is not None
            and not overrides
            and session.subscription == offline.SUBSCRIPTION_ID
            and platform.outputs == committed.outputs
        ):
            # The same program on the same config and references: the session's run.
            plan = plan_of(stack)
        else:
            plan = offline.run_stack(
                stack, overrides, subscription_id=session.subscription, platform=platform
            )
    session.plans[key] = plan
    return plan


def stack_output_to_env(session: Session, command: Command) -> None:
    _, project, stack = session.stack(command)
    qualified = f"organization/{project}/{stack}"
    if qualified not in session.up:
        fail(command, f"stack {stack} is not up: it has no outputs")
    outputs = json.dumps(session.up[qualified].outputs)
    reader = command.pipeline[1]
    executable = python(session, command, reader[0])
    resolve(session, command, reader[1], INFRA / "stack_env.py")

    def run(*extra: str) -> str:
        done = subprocess.run(
            [executable, reader[1], *reader[2:], *extra],
            cwd=session.cwd,
            input=outputs,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            fail(command, f"exit code {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    session.printed[stack] = dict(line.split("=", 1) for line in run().splitlines())
    # The prose's variant for a workstation: `--ml-config .azureml/config.json`.
    written = session.tmp / stack / ".azureml" / "config.json"
    run("--ml-config", str(written))
    session.ml_configs[stack] = json.loads(written.read_text())
    for name, value in re.findall(r"\b([A-Z][A-Z_]+)=(\S+)", " ".join(command.shown)):
        printed = session.printed[stack].get(name)
        if printed is None or not (
            printed.startswith(value.removesuffix("..."))
            if value.endswith("...")
            else printed == value
        ):
            fail(command, f"the README shows {name}={value}; it printed {name}={printed}")


Handler = Callable[[Session, Command], None]


def handler(argv: list[list[str]]) -> Handler | None:
    """The offline equivalent of a command (a pipeline of argvs), or None."""
    match argv:
        case [["make", "setup"]]:
            return make_setup
        case [["az", "account", "set", "--subscription", _]]:
            return az_account_set
        case [["az", "role", "assignment", "create", *_]]:
            return az_role_assignment
        case [[executable, script, *_]] if (
            executable.endswith("python") and Path(script).name == "bootstrap.py"
        ):
            return run_bootstrap
        case [["pulumi", "login", _]]:
            return pulumi_login
        case [["cd", _]]:
            return cd
        case [["pulumi", "stack", "init" | "select", _]]:
            return pulumi_stack
        case [["pulumi", "config", "set", *_]]:
            return pulumi_config_set
        case [["pulumi", "preview" | "up", *_]]:
            return pulumi_preview_or_up
        case [["pulumi", "stack", "output", "--json"], [executable, script, *_]] if (
            executable.endswith("python") and Path(script).name == "stack_env.py"
        ):
            return stack_output_to_env
    return None


def run_command(session: Session, command: Command) -> None:
    if len(command.pipeline) == 1 and tuple(command.pipeline[0]) in CANNOT_RUN:
        return
    left = re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\bUNIQUE\b", command.text)
    if left:
        fail(command, f"placeholder {left[0]} has no value in PLACEHOLDERS")
    run = handler(command.pipeline)
    if run is None:
        fail(
            command,
            "no offline equivalent in tests/infra/test_quickstart.py: add one to handler(), "
            "or, if it cannot run here at all, to CANNOT_RUN with the reason",
        )
    run(session, command)


def run_quickstart(session: Session, blocks: list[Block]) -> None:
    for index, block in enumerate(blocks):
        cwd = session.cwd
        for command in commands(block):
            run_command(session, command)
            argv = command.pipeline[0]
            if (
                session.environment_start is None
                and argv[:3] == ["pulumi", "stack", "init"]
                and session.cwd == INFRA
            ):
                session.environment_start = (index, cwd, argv[3])


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> Session:
    """The quickstart as written (its environment dev), then its environment
    steps again for every other environment the platform creates."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        session = Session(tmp_path_factory.mktemp("quickstart"), monkeypatch)
        blocks = quickstart_blocks()
        run_quickstart(session, blocks)
        assert session.environment_start, "the quickstart inits no environment stack in infra/"
        index, cwd, written = session.environment_start
        platform = session.up["organization/mlops-platform/shared"]
        for environment in platform.config.environments:
            if environment == written:
                continue
            session.cwd = cwd
            again = [
                Block(b.step, re.sub(rf"\b{written}\b", environment, b.text))
                for b in blocks[index:]
            ]
            run_quickstart(session, again)
    return session


def test_every_stack_is_up_in_order_and_reads_the_platform(quickstart):
    assert set(quickstart.up) == {
        "organization/mlops-platform/shared",
        "organization/mlops-infra/dev",
        "organization/mlops-infra/staging",
        "organization/mlops-infra/prod",
    }
    platform = quickstart.up["organization/mlops-platform/shared"].outputs
    for stack in ("dev", "staging", "prod"):
        outputs = quickstart.up[f"organization/mlops-infra/{stack}"].outputs
        assert outputs["resource_group"] == platform["environments"][stack]["resource_group"]
        assert outputs["ci_client_ids"] == platform["environments"][stack]["ci_client_ids"]
        assert outputs["subscription_id"] == PLACEHOLDERS["SUBSCRIPTION_ID"]
    assert quickstart.cwd == INFRA  # where step 4 left the shell


def test_the_platform_took_the_config_the_quickstart_set(quickstart):
    platform = quickstart.up["organization/mlops-platform/shared"]
    subjects = {
        r.inputs["subject"] for r in platform.of_type("managedidentity:FederatedIdentityCredential")
    }
    assert subjects and all(s.startswith(f"repo:{REPOSITORY}:environment:") for s in subjects)
    group = PLACEHOLDERS["GROUP_OBJECT_ID"]
    group_scopes = {
        r.inputs["scope"]
        for r in platform.of_type("authorization:RoleAssignment")
        if r.inputs["principalId"] == group
    }
    assert group_scopes and all("/resourceGroups/rg-mlops-dev" in s for s in group_scopes)
    # The CI identities' grants on the state are on the container bootstrap made.
    group_name, account = quickstart.state_storage
    assert (group_name, account) == ("rg-pulumi-state", "stpulumiqs01")
    container = bootstrap.state_container_id(quickstart.subscription, group_name, account)
    state_grants = [
        r
        for r in platform.of_type("authorization:RoleAssignment")
        if r.inputs["scope"].endswith(f"/containers/{bootstrap.STATE_CONTAINER}")
    ]
    assert len(state_grants) == 6  # infra and preview of dev, staging, prod
    assert {r.inputs["scope"] for r in state_grants} == {container}
    assert (
        "ok  Pulumi state: https://stpulumiqs01.blob.core.windows.net/pulumi-state"
        in quickstart.bootstrap_output
    )


def test_step_4_prints_each_environments_variables_and_writes_its_config(quickstart):
    platform = quickstart.up["organization/mlops-platform/shared"].outputs
    for stack in ("dev", "staging", "prod"):
        printed = quickstart.printed[stack]
        assert printed == {
            "AZURE_CLIENT_ID": platform["environments"][stack]["ci_client_ids"]["ml"],
            "AZURE_TENANT_ID": platform["tenant_id"],
            "AZURE_SUBSCRIPTION_ID": PLACEHOLDERS["SUBSCRIPTION_ID"],
            "AZURE_RESOURCE_GROUP": f"rg-mlops-{stack}",
            "AZURE_LOCATION": "westeurope",
            "AZUREML_WORKSPACE_NAME": f"mlw-mlops-{stack}",
            "AZUREML_COMPUTE": "cpu-cluster",
            "AZUREML_REGISTRY_NAME": platform["registry_name"],
        }
        assert quickstart.ml_configs[stack] == {
            "subscription_id": PLACEHOLDERS["SUBSCRIPTION_ID"],
            "resource_group": f"rg-mlops-{stack}",
            "workspace_name": f"mlw-mlops-{stack}",
        }
    assert platform["registry_name"].startswith("mlr-mlops-")


def test_the_policy_edit_is_asked_for_before_the_platforms_preview(quickstart):
    # Without it the platform's preview is refused: its credentials name the
    # reader's repository, the committed pack config another.
    readme = README.read_text()
    section = readme[readme.index("### Azure quickstart") :]
    edit = section.index("`githubRepository` in `infra/policy/config.json`")
    assert edit < section.index("pulumi preview --policy-pack ../policy")
    plan = quickstart.up["organization/mlops-platform/shared"]
    committed = committed_config()
    assert committed != {**committed, **POLICY_EDIT}
    refused = [
        r.name
        for r in plan.of_type("managedidentity:FederatedIdentityCredential")
        if verdicts(r.type, r.inputs, plan.stack, committed)["github-oidc-per-environment"]
    ]
    assert refused


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("pulumi refresh", "`pulumi refresh`: no offline equivalent in tests/infra/"),
        ("az group create -n rg", "`az group create -n rg`: no offline equivalent"),
        ("pulumi up --yes", "`pulumi up --yes`: option --yes has no offline equivalent"),
        ("cd infra\npulumi stack init dev", "`pulumi stack init dev`: no `pulumi login`"),
        ("echo NEW_PLACEHOLDER", "placeholder NEW_PLACEHOLDER has no value"),
    ],
)
def test_a_command_the_test_cannot_run_fails_it_naming_the_command(tmp_path, block, message):
    with pytest.MonkeyPatch.context() as monkeypatch:
        session = Session(tmp_path, monkeypatch)
        with pytest.raises(pytest.fail.Exception, match=re.escape(message)):
            run_quickstart(session, [Block(9, block)])


def test_blocks_and_commands_are_read_as_a_shell_reads_them():
    readme = (
        "### Azure quickstart\n\n1. **One**\n\n   ```sh\n   a && b x \\\n       y\n"
        "   c --json | d e  # note\n   # SHOWN=1 ...\n   ```\n\n## Next\n\n```sh\nz\n```\n"
    )
    [block] = quickstart_blocks(readme)
    assert block.step == 1
    found = commands(block)
    assert [c.pipeline for c in found] == [
        [["a"]],
        [["b", "x", "y"]],
        [["c", "--json"], ["d", "e"]],
    ]
    assert found[-1].text == "c --json | d e"
    assert found[-1].shown == ["SHOWN=1 ..."]
