"""What the platform stack creates and grants, read from what its program
hands the Azure provider under mocks; above all, what the environments' CI
identities can and cannot do with the grants it gives them."""

import re
import uuid

import pytest

import roles
from offline import run_platform
from tests.infra.conftest import STACKS, platform_plan

REPO = "repo:contoso/azureml-mlops:environment"
STATE = (
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-pulumi-state"
    "/providers/Microsoft.Storage/storageAccounts/stpulumistate/blobServices/default"
    "/containers/pulumi-state"
)

# Azure's grammar for delegating role assignment management, "constrain roles
# and principals": one clause for roleAssignments/write, checked on the
# request, and one for /delete, checked on the existing assignment.
_GUIDS = r"\{([0-9a-f-]+(?:, [0-9a-f-]+)*)\}"
_CLAUSE = (
    r"\(\(!\(ActionMatches\{'Microsoft\.Authorization/roleAssignments/(write|delete)'\}\)\) OR "
    r"\(@(Request|Resource)\[Microsoft\.Authorization/roleAssignments:RoleDefinitionId\] "
    rf"ForAnyOfAnyValues:GuidEquals {_GUIDS} AND "
    r"@(Request|Resource)\[Microsoft\.Authorization/roleAssignments:PrincipalId\] "
    rf"ForAnyOfAnyValues:GuidEquals {_GUIDS}\)\)"
)
CONDITION = re.compile(rf"^{_CLAUSE} AND {_CLAUSE}$")


def delegation(condition: str) -> dict[str, tuple[set[str], set[str]]]:
    """action -> (roles it may assign, principals it may assign them to), as
    Azure reads the condition."""
    found = CONDITION.match(condition)
    assert found, f"not Azure's role-and-principal delegation grammar: {condition}"
    parts = found.groups()
    clauses = {}
    for action, source, role_ids, source_again, principal_ids in (parts[:5], parts[5:]):
        assert (action, source, source_again) in (
            ("write", "Request", "Request"),
            ("delete", "Resource", "Resource"),
        )
        clauses[action] = (set(role_ids.split(", ")), set(principal_ids.split(", ")))
    assert set(clauses) == {"write", "delete"}
    return clauses


def identities(plan) -> dict[str, object]:
    return {r.azure_name: r for r in plan.of_type("managedidentity:UserAssignedIdentity")}


def principal(plan, name: str) -> str:
    return identities(plan)[name].state["principalId"]


def grants_of(plan, principal_id: str) -> list:
    return [
        r
        for r in plan.of_type("authorization:RoleAssignment")
        if r.inputs["principalId"] == principal_id
    ]


def summary(plan, principal_id: str) -> set[tuple[str, str]]:
    """(role, scope's last segment) of every grant to ``principal_id``."""
    return {
        (
            roles.role_name(r.inputs["roleDefinitionId"], r.inputs["scope"]),
            r.inputs["scope"].rsplit("/", 1)[-1],
        )
        for r in grants_of(plan, principal_id)
    }


def test_identities_live_in_their_own_resource_group_one_set_per_environment():
    plan = platform_plan()
    groups = {r.azure_name for r in plan.of_type("resources:ResourceGroup")}
    assert groups == {"rg-mlops-identities", "rg-mlops-registry"} | {
        f"rg-mlops-{stack}" for stack in STACKS
    }
    found = identities(plan)
    assert set(found) == {
        f"id-mlops-{stack}-{kind}"
        for stack in STACKS
        for kind in ("ci-infra", "ci-ml", "ci-preview", "workspace", "compute-cpu", "compute-gpu")
    }
    assert {r.inputs["resourceGroupName"] for r in found.values()} == {"rg-mlops-identities"}


def test_the_registry_is_shared_and_replicated_to_the_configured_regions():
    registry = platform_plan().one("machinelearningservices:Registry")
    assert registry.inputs["resourceGroupName"] == "rg-mlops-registry"
    assert [r["location"] for r in registry.inputs["regionDetails"]] == ["westeurope"]
    wider = run_platform(overrides={"registryRegions": ["westeurope", "eastus2"]})
    details = wider.one("machinelearningservices:Registry").inputs["regionDetails"]
    assert [r["location"] for r in details] == ["westeurope", "eastus2"]
    assert platform_plan().outputs["registry_name"] == registry.azure_name


@pytest.mark.parametrize("stack", STACKS)
def test_each_environments_identities_get_exactly_their_grants(stack):
    plan = platform_plan()
    group, registry = f"rg-mlops-{stack}", plan.one("machinelearningservices:Registry").azure_name
    expected = {
        "ci-infra": {
            ("Contributor", group),
            (roles.ROLE_ADMIN, group),
            ("Storage Blob Data Contributor", "pulumi-state"),
            ("Managed Identity Operator", f"id-mlops-{stack}-workspace"),
            ("Managed Identity Operator", f"id-mlops-{stack}-compute-cpu"),
            ("Managed Identity Operator", f"id-mlops-{stack}-compute-gpu"),
        },
        "ci-preview": {("Reader", group), ("Storage Blob Data Reader", "pulumi-state")},
        # dev promotes into the registry; staging and prod only deploy from it.
        "ci-ml": {("AzureML Registry User" if stack == "dev" else roles.REGISTRY_READER, registry)},
        "workspace": {
            ("Contributor", group),
            ("Key Vault Administrator", group),
            ("Storage File Data Privileged Contributor", group),
        },
        "compute-cpu": set(),
        "compute-gpu": set(),
    }
    for kind, grants in expected.items():
        assert summary(plan, principal(plan, f"id-mlops-{stack}-{kind}")) == grants, kind


def test_the_registry_reader_role_reads_assets_and_nothing_else():
    plan = platform_plan()
    (reader,) = plan.of_type("authorization:RoleDefinition")
    (permissions,) = reader.inputs["permissions"]
    assert sorted(permissions["actions"]) == [
        "Microsoft.MachineLearningServices/registries/assets/read",
        "Microsoft.MachineLearningServices/registries/read",
    ]
    assert not any(permissions.get(k) for k in ("notActions", "dataActions", "notDataActions"))
    (scope,) = reader.inputs["assignableScopes"]
    assert scope.endswith("/resourceGroups/rg-mlops-registry")
    assert reader.inputs["roleName"].startswith(roles.REGISTRY_READER)


def test_which_environments_write_to_the_registry_is_config():
    plan = run_platform(overrides={"registryWriters": ["dev", "staging"]})
    registry = plan.one("machinelearningservices:Registry").azure_name
    for stack, role in (
        ("staging", "AzureML Registry User"),
        ("prod", roles.REGISTRY_READER),
    ):
        ml = principal(plan, f"id-mlops-{stack}-ci-ml")
        assert summary(plan, ml) == {(role, registry)}, stack


@pytest.mark.parametrize("stack", STACKS)
def test_the_infra_identity_can_grant_only_workload_roles_only_to_workload_identities(stack):
    plan = platform_plan()
    infra = principal(plan, f"id-mlops-{stack}-ci-infra")
    [admin] = [
        r
        for r in grants_of(plan, infra)
        if roles.role_name(r.inputs["roleDefinitionId"]) == roles.ROLE_ADMIN
    ]
    assert admin.inputs["conditionVersion"] == "2.0"
    workloads = {
        principal(plan, f"id-mlops-{stack}-{kind}")
        for kind in ("workspace", "compute-cpu", "compute-gpu", "ci-ml")
    }
    workload_roles = {roles.ALLOWED[name] for name in roles.WORKLOAD}
    for action, (role_ids, principal_ids) in delegation(admin.inputs["condition"]).items():
        assert role_ids == workload_roles, action
        assert principal_ids == workloads, action
        assert infra not in principal_ids
    never = ["Owner", "User Access Administrator", roles.ROLE_ADMIN, "Contributor",
             "Key Vault Administrator", "Storage File Data Privileged Contributor"]  # fmt: skip
    for name in never:
        assert name not in roles.WORKLOAD
    # No other grant of the infra identity can write a role assignment: of the
    # built-in roles it holds, only the conditioned one has roleAssignments/write.
    others = {roles.role_name(r.inputs["roleDefinitionId"]) for r in grants_of(plan, infra)}
    assert others - {roles.ROLE_ADMIN} == {
        "Contributor",
        "Managed Identity Operator",
        "Storage Blob Data Contributor",
    }
    conditioned = [r for r in grants_of(plan, infra) if r.inputs.get("condition")]
    assert [r for r in conditioned if r.inputs["scope"] != STATE] == [admin]


@pytest.mark.parametrize("stack", STACKS)
def test_the_infra_identity_has_no_write_on_the_identities(stack):
    plan = platform_plan()
    infra = principal(plan, f"id-mlops-{stack}-ci-infra")
    on_identities = [
        r
        for r in grants_of(plan, infra)
        if "/resourceGroups/rg-mlops-identities" in r.inputs["scope"]
    ]
    # Managed Identity Operator: read an identity and attach it, nothing more;
    # and only on the workload identities, never a CI one or the group.
    assert {roles.role_name(r.inputs["roleDefinitionId"]) for r in on_identities} == {
        "Managed Identity Operator"
    }
    assert {r.inputs["scope"].rsplit("/", 1)[-1] for r in on_identities} == {
        f"id-mlops-{stack}-workspace",
        f"id-mlops-{stack}-compute-cpu",
        f"id-mlops-{stack}-compute-gpu",
    }


def test_state_access_is_on_the_container_only():
    plan = platform_plan()
    on_state = [
        r
        for r in plan.of_type("authorization:RoleAssignment")
        if "pulumi-state" in r.inputs["scope"]
    ]
    assert {r.inputs["scope"] for r in on_state} == {STATE}


def test_ci_identities_trust_exactly_one_subject_of_the_repository_per_github_environment():
    plan = platform_plan()
    subjects = {}
    for r in plan.of_type("managedidentity:FederatedIdentityCredential"):
        assert r.inputs["issuer"] == "https://token.actions.githubusercontent.com"
        assert r.inputs["audiences"] == ["api://AzureADTokenExchange"]
        subjects.setdefault(r.inputs["resourceName"], []).append(r.inputs["subject"])
    # dev's ml identity also trusts dev-pr, where pull requests train (ci.yml).
    assert subjects == {
        name: [f"{REPO}:{environment}" for environment in environments]
        for stack in STACKS
        for name, environments in [
            (f"id-mlops-{stack}-ci-infra", [f"{stack}-infra"]),
            (f"id-mlops-{stack}-ci-ml", [stack, "dev-pr"] if stack == "dev" else [stack]),
            (f"id-mlops-{stack}-ci-preview", [f"{stack}-preview"]),
        ]
    }


def test_groups_get_their_roles_in_their_environment_only():
    group = "5b0a3f84-6a5d-4c1e-9a43-2f7d1c0e9b11"
    plan = run_platform(overrides={"dataScientistsGroupObjectIds": [f"dev={group}"]})
    assert summary(plan, group) == {
        ("AzureML Data Scientist", "rg-mlops-dev"),
        ("Storage Blob Data Reader", "rg-mlops-dev"),
    }
    assert {r.inputs["principalType"] for r in grants_of(plan, group)} == {"Group"}


def test_the_outputs_give_each_environment_its_resource_group_and_identities():
    plan = platform_plan()
    prod = plan.outputs["environments"]["prod"]
    assert prod["resource_group"] == "rg-mlops-prod"
    assert prod["ci_client_ids"]["ml"] == identities(plan)["id-mlops-prod-ci-ml"].state["clientId"]
    assert set(prod["workload_identities"]) == {"workspace", "compute-cpu", "compute-gpu"}
    assert plan.outputs["registry_name"].startswith("mlr-mlops-")


# How Azure reads a storage condition (version 2.0) made of clauses
# "((!(ActionMatches{...}) ...) OR (@Resource[...blobs:path] StringLike '...' OR ...))"
# joined by AND: a request for a targeted action passes only where one of its
# clause's patterns matches the blob's path (in StringLike, * is any run of
# characters, / included, and ? one character).
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_TARGET = re.compile(
    r"!\(ActionMatches\{'(?P<action>[^']+)'\}(?P<not_list> AND NOT SubOperationMatches"
    r"\{'Blob\.List'\})?\)"
)
_STATE_CLAUSE = re.compile(
    r"\(\((?P<targets>!\([^()]*\)(?: AND !\([^()]*\))*)\) OR \((?P<paths>[^()]+)\)\)"
)
_PATH = re.compile(rf"@Resource\[{_BLOBS}:path\] StringLike '([^']*)'")
# The data actions of the built-in roles (Azure's role definitions).
DATA_ACTIONS = {
    "Storage Blob Data Reader": {f"{_BLOBS}/read"},
    "Storage Blob Data Contributor": {
        f"{_BLOBS}/{a}" for a in ("read", "write", "delete", "move/action", "add/action")
    },
}


def string_like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def clauses(condition: str) -> list[tuple[list[tuple[str, bool]], list[str]]]:
    """(targeted actions with their "not a list" flag, path patterns) per clause."""
    found, rest = [], condition
    while rest:
        clause = _STATE_CLAUSE.match(rest)
        assert clause, f"not Azure's clause grammar at: {rest[:120]}"
        targets = [(t["action"], bool(t["not_list"])) for t in _TARGET.finditer(clause["targets"])]
        assert (
            " AND ".join(t.group(0) for t in _TARGET.finditer(clause["targets"]))
            == (clause["targets"])
        )
        paths = clause["paths"].split(" OR ")
        assert all(_PATH.fullmatch(p) for p in paths), paths
        found.append((targets, [_PATH.fullmatch(p).group(1) for p in paths]))
        rest = rest[clause.end() :].removeprefix(" AND ")
    return found


def allowed(assignment, action: str, path: str, listing: bool = False) -> bool:
    """Whether ``assignment`` lets its principal do data action ``action``
    (``listing``: List Blobs) on the blob at ``path`` of its container."""
    role = roles.role_name(assignment.inputs["roleDefinitionId"])
    if f"{_BLOBS}/{action}" not in DATA_ACTIONS[role]:
        return False
    for targets, patterns in clauses(assignment.inputs.get("condition") or ""):
        targeted = any(
            target == f"{_BLOBS}/{action}" and not (not_list and listing)
            for target, not_list in targets
        )
        if targeted and not any(string_like(p, path) for p in patterns):
            return False
    return True


def pulumi_blobs(stack: str, project: str = "mlops-infra") -> dict[str, list[str]]:
    """Blobs Pulumi's self-managed backend writes for one stack (project mode),
    as pkg/backend/diy lays them out, by what they are."""
    lock = uuid.uuid4()
    ns = 1767225600000000000
    return {
        "checkpoint": [
            f".pulumi/stacks/{project}/{stack}.json",
            f".pulumi/stacks/{project}/{stack}.json.bak",
            f".pulumi/stacks/{project}/{stack}.json.gz",
            f".pulumi/stacks/{project}/{stack}.pulumi-tags",
        ],
        "history": [
            f".pulumi/history/{project}/{stack}/{stack}-{ns}.history.json",
            f".pulumi/history/{project}/{stack}/{stack}-{ns}.checkpoint.json",
        ],
        "backups": [f".pulumi/backups/{project}/{stack}/{stack}.{ns}.json"],
        "journal": [f".pulumi/journal/{project}/{stack}/{ns}.json"],
        "lock": [f".pulumi/locks/organization/{project}/{stack}/{lock}.json"],
    }


def state_grant(plan, stack: str, job: str):
    [grant] = [
        r
        for r in grants_of(plan, principal(plan, f"id-mlops-{stack}-ci-{job}"))
        if r.inputs["scope"] == STATE
    ]
    assert grant.inputs["conditionVersion"] == "2.0"
    return grant


@pytest.mark.parametrize("stack", STACKS)
def test_each_environments_infra_identity_writes_its_own_stacks_state_and_nothing_else(stack):
    plan = platform_plan()
    grant = state_grant(plan, stack, "infra")
    mine = [blob for blobs in pulumi_blobs(stack).values() for blob in blobs]
    for blob in mine:
        for action in ("read", "write", "add/action", "delete"):
            assert allowed(grant, action, blob), (action, blob)
    others = [
        ".pulumi/meta.yaml",  # written once, by the administrator's first login
        *(blob for other in STACKS if other != stack for b in pulumi_blobs(other).values()
          for blob in b),
        # A stack whose name starts with this one's is another stack.
        *(blob for b in pulumi_blobs(f"{stack}2").values() for blob in b),
        *(blob for b in pulumi_blobs("shared", "mlops-platform").values() for blob in b),
        f".pulumi/stacks/{stack}.json",  # the legacy layout, outside any project
    ]  # fmt: skip
    for blob in others:
        for action in ("write", "add/action", "delete", "move/action"):
            assert not allowed(grant, action, blob), (action, blob)
    # It reads what `pulumi login` and its StackReference to the platform read ...
    assert allowed(grant, "read", ".pulumi/meta.yaml")
    assert allowed(grant, "read", ".pulumi/stacks/mlops-platform/shared.json")
    # ... and no other environment's state.
    for other in STACKS:
        if other != stack:
            for blobs in pulumi_blobs(other).values():
                assert not any(allowed(grant, "read", blob) for blob in blobs), other
    # Listing shows names, not contents, and Pulumi lists outside its own paths.
    assert allowed(grant, "read", ".pulumi/stacks/", listing=True)


@pytest.mark.parametrize("stack", STACKS)
def test_each_environments_preview_identity_reads_its_own_stacks_state_and_writes_nothing(stack):
    plan = platform_plan()
    grant = state_grant(plan, stack, "preview")
    assert roles.role_name(grant.inputs["roleDefinitionId"]) == "Storage Blob Data Reader"
    # `pulumi preview` takes no lock on this backend: it needs no write at all.
    everything = [
        blob for s in (*STACKS, f"{stack}2") for b in pulumi_blobs(s).values() for blob in b
    ]
    for blob in everything:
        for action in ("write", "add/action", "delete", "move/action"):
            assert not allowed(grant, action, blob), (action, blob)
    for blob in [b for blobs in pulumi_blobs(stack).values() for b in blobs]:
        assert allowed(grant, "read", blob), blob
    assert allowed(grant, "read", ".pulumi/meta.yaml")
    assert allowed(grant, "read", ".pulumi/stacks/mlops-platform/shared.json")
    for other in STACKS:
        if other != stack:
            assert not allowed(grant, "read", f".pulumi/stacks/mlops-infra/{other}.json")
