"""bootstrap.py against the real azure-mgmt-resource client and azure-core's
requests transport; only the HTTP connection is replaced, by a requests
adapter that plays Azure Resource Manager."""

import io
import json
import re
import time
from urllib.parse import urlparse

import pytest
import requests
import urllib3
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.resource.resources import ResourceManagementClient

import bootstrap

SUBSCRIPTION = "3f1c0b8e-1111-2222-3333-444455556666"


class Token:
    def get_token(self, *scopes, **kwargs):
        return AccessToken("token", int(time.time()) + 3600)


class FakeArm(requests.adapters.HTTPAdapter):
    """Answers the ARM calls bootstrap makes, from a dict of provider states. A
    provider being registered reports Registered from its ``registered_after``-th
    read on (never, by default), as Azure does once it is done; with 0, the
    registration request itself answers Registered, as it can for a quick one."""

    def __init__(
        self,
        providers: dict[str, str],
        subscription: str = SUBSCRIPTION,
        registered_after: int | None = None,
    ):
        super().__init__()
        self.providers = providers
        self.subscription = subscription
        self.registered_after = registered_after
        self.reads_while_registering: dict[str, int] = {}
        self.calls: list[tuple[str, str, dict | None]] = []
        self.queries: list[str] = []
        self.usages = usages(gpu_limit=12)

    def send(self, request, **kwargs):
        path = urlparse(request.url).path
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, path, body))
        self.queries.append(urlparse(request.url).query)
        status, answer = self.answer(request.method, path, body)
        data = json.dumps(answer).encode()
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data),
            headers={"Content-Type": "application/json", "Content-Length": str(len(data))},
            status=status,
            preload_content=False,
        )
        return self.build_response(request, raw)

    def answer(self, method, path, body):
        provider = re.match(
            rf"^/subscriptions/{self.subscription}/providers/([^/]+)(/register)?$", path
        )
        if provider:
            namespace, register = provider.groups()
            if register:
                self.providers[namespace] = (
                    "Registered" if self.registered_after == 0 else "Registering"
                )
            elif self.providers.get(namespace) == "Registering":
                reads = self.reads_while_registering.get(namespace, 0) + 1
                self.reads_while_registering[namespace] = reads
                if self.registered_after is not None and reads >= self.registered_after:
                    self.providers[namespace] = "Registered"
            state = self.providers.get(namespace, "NotRegistered")
            types = []
            if namespace == "Microsoft.MachineLearningServices":
                types = [
                    {"resourceType": "workspaces", "locations": ["West Europe", "East US 2"]},
                    {"resourceType": "operations", "locations": []},
                ]
            return 200, {"namespace": namespace, "registrationState": state, "resourceTypes": types}
        quota = re.match(
            rf"^/subscriptions/{self.subscription}/providers/Microsoft.MachineLearningServices"
            r"/locations/([a-z0-9]+)/(vmSizes|usages)$",
            path,
        )
        if quota and method == "GET":
            return 200, {"value": VM_SIZES if quota.group(2) == "vmSizes" else self.usages}
        if method == "PUT":
            return 200, {
                "id": path,
                "name": path.rsplit("/", 1)[-1],
                **(body or {}),
                "properties": {
                    **(body or {}).get("properties", {}),
                    "provisioningState": "Succeeded",
                },
            }
        return 404, {"error": {"code": "NotFound", "message": path}}


# Azure ML's answers, in the shape its REST API gives them (one family spelled with spaces).
VM_SIZES = [
    {"name": "Standard_DS3_v2", "family": "standardDSv2Family", "vCPUs": 4, "gpus": 0},
    {"name": "Standard_NC4as_T4_v3", "family": "Standard NCASv3_T4 Family", "vCPUs": 4, "gpus": 1},
    {"name": "Standard_NC24ads_A100_v4", "family": "StandardNCADSA100v4Family", "vCPUs": 24,
     "gpus": 1},
]  # fmt: skip


def usage(kind: str, value: str, limit: int, used: int = 0, label: str = "") -> dict:
    """One line of Azure ML's usages list."""
    return {
        "type": f"Microsoft.MachineLearningServices/{kind}/usages",
        "currentValue": used,
        "limit": limit,
        "unit": "Count",
        "name": {"value": value, "localizedValue": label or value},
    }


def usages(gpu_limit: int, used: int = 0) -> list[dict]:
    dedicated = "Family Cluster Dedicated vCPUs"
    return [
        usage("totalCores", "Total Cluster Dedicated Regional vCPUs", 100, used),
        usage("vmFamily", "standardDSv2Family", 24, label=f"Standard DSv2 {dedicated}"),
        usage("vmFamily", "standardNCASv3_T4Family", gpu_limit, used,
              label=f"Standard NCASv3_T4 {dedicated}"),
        usage("vmFamily", "StandardNCADSA100v4Family", 0,
              label=f"Standard NCADSA100v4 {dedicated}"),
        # A workspace's own line: not the subscription's quota.
        usage("workspaces/dedicatedCores", "Dedicated vCPUs", 0),
    ]  # fmt: skip


def client(arm: FakeArm) -> ResourceManagementClient:
    session = requests.Session()
    session.mount("https://", arm)
    transport = RequestsTransport(session=session, session_owner=False)
    return ResourceManagementClient(Token(), arm.subscription, transport=transport, retry_total=0)


ALL_REGISTERED = dict.fromkeys(bootstrap.REQUIRED_PROVIDERS, "Registered")


class Clock:
    """Time that passes only when bootstrap sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_a_ready_subscription_passes_and_nothing_is_written():
    arm = FakeArm(dict(ALL_REGISTERED))
    shown: list[str] = []
    assert bootstrap.preflight(client(arm), SUBSCRIPTION, "westeurope", shown.append)
    assert all(line.startswith("ok") for line in shown)
    assert {method for method, _, _ in arm.calls} == {"GET"}


def test_missing_providers_are_named_and_registered_only_when_asked():
    arm = FakeArm({**ALL_REGISTERED, "Microsoft.MachineLearningServices": "NotRegistered"})
    shown: list[str] = []
    assert not bootstrap.preflight(client(arm), SUBSCRIPTION, "westeurope", shown.append)
    assert "NO  Microsoft.MachineLearningServices: NotRegistered" in shown
    assert "    register them with --register-providers (needs rights on the subscription)" in shown
    assert not [c for c in arm.calls if c[1].endswith("/register")]


def test_registering_waits_until_azure_has_registered_then_creates_the_state_storage():
    arm = FakeArm(
        {**ALL_REGISTERED, "Microsoft.MachineLearningServices": "NotRegistered"},
        registered_after=3,
    )
    shown: list[str] = []
    clock = Clock()
    assert bootstrap.preflight(
        client(arm), SUBSCRIPTION, "westeurope", shown.append, register=True,
        state_storage=("rg-pulumi-state", "stpulumistate01"), sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    registered = [c[1] for c in arm.calls if c[1].endswith("/register")]
    assert registered == [
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.MachineLearningServices/register"
    ]
    assert clock.sleeps == [bootstrap.POLL_SECONDS] * 3
    assert shown.count(
        "    waiting for Azure to register Microsoft.MachineLearningServices ..."
    ) == 1  # fmt: skip
    assert "ok  Microsoft.MachineLearningServices: Registered (registration requested)" in shown
    assert "ok  Pulumi state: https://stpulumistate01.blob.core.windows.net/pulumi-state" in shown
    # The storage account is created only once every provider is registered.
    first_put = next(i for i, c in enumerate(arm.calls) if c[0] == "PUT")
    last_poll = max(i for i, c in enumerate(arm.calls) if "MachineLearningServices" in c[1])
    assert last_poll < first_put


def test_a_registration_still_pending_when_the_wait_ends_says_run_again_and_creates_nothing():
    arm = FakeArm({**ALL_REGISTERED, "Microsoft.Storage": "NotRegistered"})
    shown: list[str] = []
    clock = Clock()
    assert not bootstrap.preflight(
        client(arm), SUBSCRIPTION, "westeurope", shown.append, register=True,
        state_storage=("rg-pulumi-state", "stpulumistate01"), wait_seconds=45,
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert clock.now == 45  # the bound, not a poll beyond it
    assert "NO  Microsoft.Storage: Registering (registration requested)" in shown
    assert (
        "    Azure is still registering them after 0.75 minutes: run the same command again "
        "in a few minutes (it waits again, and creates nothing twice)"
    ) in shown
    assert "--  Pulumi state: not created until the subscription is ready" in shown
    assert not [c for c in arm.calls if c[0] == "PUT"]


def test_the_command_exits_0_once_registered_and_1_while_still_registering(monkeypatch):
    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Token)
    arms = []

    def fake_client(credential, subscription_id):
        arms.append(FakeArm({**ALL_REGISTERED, "Microsoft.Network": "NotRegistered"},
                            registered_after=arms_after))  # fmt: skip
        return client(arms[-1])

    monkeypatch.setattr("azure.mgmt.resource.resources.ResourceManagementClient", fake_client)
    argv = ["--subscription-id", SUBSCRIPTION, "--register-providers", "--wait-minutes", "0"]
    arms_after = None
    assert bootstrap.main(argv) == 1
    arms_after = 0  # registered at once: nothing to wait for
    assert bootstrap.main(argv) == 0
    with pytest.raises(SystemExit):
        bootstrap.main([*argv[:-1], "-1"])


def test_a_location_without_azure_ml_is_refused_with_the_choices():
    arm = FakeArm(dict(ALL_REGISTERED))
    shown: list[str] = []
    assert not bootstrap.preflight(client(arm), SUBSCRIPTION, "antarctica", shown.append)
    assert shown[-1] == (
        "NO  location antarctica: Azure ML offers no workspaces in 'antarctica' to this "
        "subscription; choose one of: eastus2, westeurope"
    )
    assert bootstrap.location_problem(client(arm), "East US 2") is None


def test_state_storage_is_created_keyless_private_and_versioned():
    arm = FakeArm(dict(ALL_REGISTERED))
    shown: list[str] = []
    assert bootstrap.preflight(
        client(arm), SUBSCRIPTION, "westeurope", shown.append,
        state_storage=("rg-pulumi-state", "stpulumistate01"),
    )  # fmt: skip
    puts = {path: body for method, path, body in arm.calls if method == "PUT"}
    group = f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-pulumi-state"
    account = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-pulumi-state"
        "/providers/Microsoft.Storage/storageAccounts/stpulumistate01"
    )
    assert puts[group]["location"] == "westeurope"
    assert puts[account]["properties"] == {
        "allowBlobPublicAccess": False,
        "allowSharedKeyAccess": False,
        "minimumTlsVersion": "TLS1_2",
        "supportsHttpsTrafficOnly": True,
        "defaultToOAuthAuthentication": True,
    }
    assert puts[f"{account}/blobServices/default"]["properties"] == {
        "isVersioningEnabled": True,
        "containerDeleteRetentionPolicy": {"enabled": True, "days": 30},
    }
    assert puts[f"{account}/blobServices/default/containers/pulumi-state"]["properties"] == {
        "publicAccess": "None"
    }
    storage_queries = [
        query
        for (method, path, _), query in zip(arm.calls, arm.queries, strict=True)
        if method == "PUT" and "storageAccounts" in path
    ]
    assert storage_queries == ["api-version=2023-05-01"] * 3
    assert "ok  Pulumi state: https://stpulumistate01.blob.core.windows.net/pulumi-state" in shown


def test_no_state_storage_is_created_where_the_location_is_unusable():
    arm = FakeArm(dict(ALL_REGISTERED))
    bootstrap.preflight(
        client(arm), SUBSCRIPTION, "antarctica", lambda line: None,
        state_storage=("rg-pulumi-state", "stpulumistate01"),
    )  # fmt: skip
    assert not [c for c in arm.calls if c[0] == "PUT"]


@pytest.mark.parametrize("namespace", bootstrap.REQUIRED_PROVIDERS)
def test_each_required_provider_is_checked(namespace):
    arm = FakeArm({**ALL_REGISTERED, namespace: "Unregistered"})
    states = {p.namespace: p for p in bootstrap.check_providers(client(arm))}
    assert not states[namespace].ready
    assert all(p.ready for name, p in states.items() if name != namespace)


def test_the_clusters_vm_sizes_are_checked_against_azure_mls_vcpu_quota():
    arm = FakeArm(dict(ALL_REGISTERED))
    needs = [
        bootstrap.parse_compute("Standard_DS3_v2:4"),
        bootstrap.parse_compute("Standard_NC4as_T4_v3:2"),
    ]
    shown: list[str] = []

    assert bootstrap.preflight(
        client(arm), SUBSCRIPTION, "West Europe", shown.append, compute=needs
    )

    assert shown[-2:] == [
        "ok  quota Standard_DS3_v2 x 4: 16 vCPUs of Standard DSv2 Family Cluster Dedicated vCPUs "
        "(standardDSv2Family) in West Europe, 24 of 24 free",
        "ok  quota Standard_NC4as_T4_v3 x 2: 8 vCPUs of Standard NCASv3_T4 Family Cluster "
        "Dedicated vCPUs (Standard NCASv3_T4 Family) in West Europe, 12 of 12 free",
    ]
    paths = {path for _, path, _ in arm.calls}
    location = (
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.MachineLearningServices"
        "/locations/westeurope"
    )
    assert {f"{location}/vmSizes", f"{location}/usages"} <= paths


def test_a_gpu_family_without_quota_is_named_with_where_to_ask_and_fails_the_check():
    arm = FakeArm(dict(ALL_REGISTERED))
    arm.usages = usages(gpu_limit=12, used=10)
    shown: list[str] = []
    needs = [
        bootstrap.parse_compute("Standard_NC24ads_A100_v4"),
        bootstrap.parse_compute("Standard_NC4as_T4_v3:1"),
    ]

    ready = bootstrap.preflight(
        client(arm), SUBSCRIPTION, "westeurope", shown.append, compute=needs,
        state_storage=("rg-state", "stpulumistate1"),
    )  # fmt: skip

    assert not ready
    a100, t4 = shown[-4], shown[-3]
    assert a100.startswith(
        "NO  quota Standard_NC24ads_A100_v4 x 1: 24 vCPUs of Standard NCADSA100v4 Family Cluster "
        "Dedicated vCPUs (StandardNCADSA100v4Family) in westeurope, 0 of 0 free: ask for more in "
        "Azure ML studio (Quota)"
    )
    assert t4.startswith("NO  quota Standard_NC4as_T4_v3 x 1: 4 vCPUs") and "2 of 12 free" in t4
    # Quota is the jobs' need, not the stacks': the state storage is created all the same.
    assert shown[-2].startswith("ok  Pulumi state:")


def test_a_vm_size_azure_ml_does_not_offer_there_is_named_with_the_gpu_sizes_it_does():
    arm = FakeArm(dict(ALL_REGISTERED))
    shown: list[str] = []
    needs = [bootstrap.parse_compute("Standard_NC6s_v3:1")]  # retired in 2025
    assert not bootstrap.preflight(
        client(arm), SUBSCRIPTION, "westeurope", shown.append, compute=needs
    )
    assert shown[-1] == (
        "NO  quota Standard_NC6s_v3: Azure ML offers no such size in westeurope (GPU sizes there "
        "include Standard_NC24ads_A100_v4, Standard_NC4as_T4_v3)"
    )
    with pytest.raises(ValueError, match="expected VM_SIZE:NODES"):
        bootstrap.parse_compute("NC6:two")
