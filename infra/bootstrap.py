"""Preflight and one-time setup of a subscription for the stacks, with azure-mgmt-resource.

Run once by an admin after `az login` (DefaultAzureCredential):

    .venv/bin/python infra/bootstrap.py --subscription-id ID --location westeurope
    ... --register-providers                  # register what is missing, and wait for it
    ... --state-storage rg-pulumi-state stpulumistate1234   # Pulumi state in a blob container
    ... --compute Standard_DS3_v2:4 --compute Standard_NC4as_T4_v3:1   # vCPU quota for the clusters

It checks that every resource provider the stacks use is registered (with
``--register-providers`` it registers the missing ones and waits until Azure
reports them registered, at most ``--wait-minutes``) and that Azure ML
offers workspaces in the location; with ``--state-storage``, once both hold,
it creates a resource group, a storage account (no shared keys, no public
blobs, TLS 1.2, versioning, deleted containers kept) and the ``pulumi-state``
container every stack keeps its state in (see state_access.py). Each
``--compute VM_SIZE:NODES`` (a cluster's ``cpuVmSize``/``gpuVmSize`` and its
most nodes, as the stack's config sets them) is checked against Azure ML's
vCPU quota in the location: the size's family (Azure ML's ``vmSizes``), and
what is left of that family's quota and of the regional total (its
``usages``), named when it is short, with where to ask for more. A GPU
family's quota is 0 on most new subscriptions.
Exit code 0 when the subscription is ready, 1 when something is missing or
still registering when the wait ends.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from state_access import STATE_CONTAINER

# Every namespace whose resources the stacks create (or a managed network needs).
REQUIRED_PROVIDERS = (
    "Microsoft.MachineLearningServices",
    "Microsoft.Storage",
    "Microsoft.KeyVault",
    "Microsoft.ContainerRegistry",
    "Microsoft.OperationalInsights",
    "Microsoft.Insights",
    "Microsoft.ManagedIdentity",
    "Microsoft.Network",
)
STORAGE_API_VERSION = "2023-05-01"
# Versioning undoes an overwritten or deleted state file; a deleted container
# (with every version in it) stays restorable this long.
DELETED_CONTAINER_DAYS = 30
# Registration usually takes a few minutes; Azure ML's sometimes more.
WAIT_MINUTES = 15
POLL_SECONDS = 10

Printer = Callable[[str], None]
# Azure ML's own API: the VM sizes it offers and its vCPU quota, per location.
ML_API_VERSION = "2024-10-01"
QUOTA_HELP = (
    "ask for more in Azure ML studio (Quota) or with a support request of type "
    "Service and subscription limits (quotas), Machine Learning Service: Virtual Machine Quota"
)


@dataclass(frozen=True)
class ProviderState:
    namespace: str
    state: str  # as Azure reports it: Registered, NotRegistered, Registering ...
    registering: bool = False  # registration was requested by this run

    @property
    def ready(self) -> bool:
        return self.state == "Registered"


def check_providers(client, register: bool = False) -> list[ProviderState]:
    """The registration state of each required provider; with ``register``, the
    missing ones are registered (which takes minutes: see ``wait_for_registration``)."""
    states = []
    for namespace in REQUIRED_PROVIDERS:
        state = client.providers.get(namespace).registration_state or "Unknown"
        if state not in ("Registered", "Registering") and register:
            state = client.providers.register(namespace).registration_state or "Registering"
            states.append(ProviderState(namespace, state, registering=True))
        else:
            states.append(ProviderState(namespace, state))
    return states


def wait_for_registration(
    client,
    states: list[ProviderState],
    show: Printer,
    timeout_seconds: float,
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[ProviderState]:
    """Poll the providers that are ``Registering`` until Azure reports each
    ``Registered`` or ``timeout_seconds`` have passed; return the states then."""
    deadline = clock() + timeout_seconds
    current = {state.namespace: state for state in states}
    shown: list[str] = []
    while True:
        pending = [name for name, state in current.items() if state.state == "Registering"]
        if not pending or clock() >= deadline:
            return [current[name] for name in REQUIRED_PROVIDERS if name in current]
        if pending != shown:
            show(f"    waiting for Azure to register {', '.join(pending)} ...")
            shown = pending
        sleep(min(poll_seconds, max(deadline - clock(), 0)))
        for name in pending:
            state = client.providers.get(name).registration_state or "Unknown"
            current[name] = ProviderState(name, state, current[name].registering)


def _normal(location: str) -> str:
    return location.replace(" ", "").lower()


def workspace_locations(client) -> list[str]:
    """The locations where Azure ML offers workspaces to this subscription."""
    provider = client.providers.get("Microsoft.MachineLearningServices")
    for resource_type in provider.resource_types or []:
        if resource_type.resource_type == "workspaces":
            return sorted(_normal(location) for location in resource_type.locations or [])
    return []


def location_problem(client, location: str) -> str | None:
    """Why the stacks cannot be created in ``location``, or None."""
    offered = workspace_locations(client)
    if _normal(location) in offered:
        return None
    return (
        f"Azure ML offers no workspaces in {location!r} to this subscription; "
        f"choose one of: {', '.join(offered) or 'none (is the provider registered?)'}"
    )


@dataclass(frozen=True)
class ComputeNeed:
    vm_size: str
    nodes: int


def parse_compute(text: str) -> ComputeNeed:
    """``VM_SIZE:NODES`` (``Standard_NC4as_T4_v3:2``); NODES defaults to 1."""
    size, _, nodes = text.partition(":")
    if not size.startswith("Standard_") or not (nodes or "1").isdigit() or int(nodes or 1) < 1:
        raise ValueError(f"{text!r}: expected VM_SIZE:NODES, such as Standard_NC4as_T4_v3:1")
    return ComputeNeed(size, int(nodes or 1))


def _ml_list(client, subscription_id: str, location: str, what: str) -> list[dict]:
    """The ``value`` of Azure ML's ``locations/{location}/{what}`` list, every page."""
    from azure.core.rest import HttpRequest

    url = (
        f"https://management.azure.com/subscriptions/{subscription_id}/providers/"
        f"Microsoft.MachineLearningServices/locations/{_normal(location)}/{what}"
        f"?api-version={ML_API_VERSION}"
    )
    items = []
    while url:
        answer = client.send_request(HttpRequest("GET", url))
        answer.raise_for_status()
        page = answer.json()
        items += page.get("value", [])
        url = page.get("nextLink")
    return items


def _family_key(name: str) -> str:
    # vmSizes and usages spell some families apart ("Standard NCASv3_T4 Family").
    return name.replace(" ", "").lower()


def check_quota(
    client, subscription_id: str, location: str, needs: list[ComputeNeed], show: Printer
) -> bool:
    """Check each of ``needs`` against the vCPU quota in ``location``, one line
    each; True when every one fits."""
    if not needs:
        return True
    sizes = {s["name"].lower(): s for s in _ml_list(client, subscription_id, location, "vmSizes")}
    usages = _ml_list(client, subscription_id, location, "usages")
    left = {}
    for usage in usages:
        kind = usage.get("type", "")
        if kind.endswith("/vmFamily/usages") or kind.endswith("/totalCores/usages"):
            name = usage["name"]["value"]
            key = "total" if kind.endswith("/totalCores/usages") else _family_key(name)
            limit, used = int(usage.get("limit", 0)), int(usage.get("currentValue", 0))
            left[key] = (limit - used, limit, usage["name"].get("localizedValue") or name)
    fits, wanted_total = True, 0
    for need in needs:
        size = sizes.get(need.vm_size.lower())
        if size is None:
            offered = sorted(s["name"] for s in sizes.values())
            gpus = [n for n in offered if sizes[n.lower()].get("gpus")][:8]
            show(
                f"NO  quota {need.vm_size}: Azure ML offers no such size in {location}"
                + (f" (GPU sizes there include {', '.join(gpus)})" if gpus else "")
            )
            fits = False
            continue
        wanted = int(size.get("vCPUs", 0)) * need.nodes
        wanted_total += wanted
        family = size.get("family", "")
        free, limit, label = left.get(_family_key(family), (0, 0, family))
        where = (
            f"quota {need.vm_size} x {need.nodes}: {wanted} vCPUs of {label} ({family}) in "
            f"{location}, {max(free, 0)} of {limit} free"
        )
        if wanted > free:
            show(f"NO  {where}: {QUOTA_HELP}")
            fits = False
        else:
            show(f"ok  {where}")
    if "total" in left and wanted_total > left["total"][0]:
        free, limit, label = left["total"]
        show(f"NO  quota: {wanted_total} vCPUs in all, {max(free, 0)} of {limit} {label} free: "
             f"{QUOTA_HELP}")  # fmt: skip
        fits = False
    return fits


def state_container_id(subscription_id: str, resource_group: str, account: str) -> str:
    """The resource id of the Pulumi state container: the scope of the CI
    identities' grants on the state (see platform/)."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
        f"/blobServices/default/containers/{STATE_CONTAINER}"
    )


def create_state_storage(
    client, subscription_id: str, resource_group: str, account: str, location: str
) -> str:
    """Create (or update) the Pulumi state storage; return the container's blob URL."""
    client.resource_groups.create_or_update(
        resource_group, {"location": location, "tags": {"managed-by": "mlops-bootstrap"}}
    )
    account_id = (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
    )
    client.resources.begin_create_or_update_by_id(
        account_id,
        {
            "location": location,
            "kind": "StorageV2",
            "sku": {"name": "Standard_ZRS"},
            "properties": {
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "minimumTlsVersion": "TLS1_2",
                "supportsHttpsTrafficOnly": True,
                "defaultToOAuthAuthentication": True,
            },
        },
        api_version=STORAGE_API_VERSION,
    ).result()
    # Versioning keeps every earlier state file: a bad `pulumi up` can be undone. A
    # blob role on a container can delete the container itself (containers/delete
    # is one of its actions, beyond any condition): keep deleted containers.
    client.resources.begin_create_or_update_by_id(
        f"{account_id}/blobServices/default",
        {
            "properties": {
                "isVersioningEnabled": True,
                "containerDeleteRetentionPolicy": {
                    "enabled": True,
                    "days": DELETED_CONTAINER_DAYS,
                },
            }
        },
        api_version=STORAGE_API_VERSION,
    ).result()
    client.resources.begin_create_or_update_by_id(
        state_container_id(subscription_id, resource_group, account),
        {"properties": {"publicAccess": "None"}},
        api_version=STORAGE_API_VERSION,
    ).result()
    return f"https://{account}.blob.core.windows.net/{STATE_CONTAINER}"


def preflight(
    client,
    subscription_id: str,
    location: str,
    show: Printer,
    register: bool = False,
    state_storage: tuple[str, str] | None = None,
    wait_seconds: float = WAIT_MINUTES * 60,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    compute: list[ComputeNeed] = (),
) -> bool:
    """Check (and with the flags, prepare) the subscription; True when ready.
    With ``register``, waits up to ``wait_seconds`` for the registrations (see
    ``wait_for_registration``) before it checks anything else; ``compute`` is
    checked against the quota once the location is known to be usable (a shortfall
    makes the answer False, and creates the state storage all the same)."""
    providers = check_providers(client, register)
    if register:
        providers = wait_for_registration(
            client, providers, show, wait_seconds, sleep=sleep, clock=clock
        )
    for provider in providers:
        note = " (registration requested)" if provider.registering else ""
        show(f"{'ok ' if provider.ready else 'NO '} {provider.namespace}: {provider.state}{note}")
    ready = all(provider.ready for provider in providers)
    if not ready and not register:
        show("    register them with --register-providers (needs rights on the subscription)")
    elif any(provider.state == "Registering" for provider in providers):
        show(
            f"    Azure is still registering them after {wait_seconds / 60:g} minutes: run the "
            "same command again in a few minutes (it waits again, and creates nothing twice)"
        )
    problem = location_problem(client, location)
    show(f"{'NO ' if problem else 'ok '} location {location}" + (f": {problem}" if problem else ""))
    ready = ready and problem is None
    # Quota is needed by the jobs, not by the stacks: short, it fails the check but
    # does not hold back the state storage.
    quota_ok = not ready or check_quota(client, subscription_id, location, list(compute), show)
    if state_storage and ready:
        group, account = state_storage
        url = create_state_storage(client, subscription_id, group, account, location)
        show(f"ok  Pulumi state: {url}")
        show(f"    pulumi login 'azblob://{STATE_CONTAINER}?storage_account={account}'")
    elif state_storage:
        show("--  Pulumi state: not created until the subscription is ready")
    return ready and quota_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscription-id", required=True)
    parser.add_argument("--location", default="westeurope")
    parser.add_argument(
        "--register-providers",
        action="store_true",
        help="register the missing providers and wait until Azure has registered them",
    )
    parser.add_argument(
        "--wait-minutes",
        type=float,
        default=WAIT_MINUTES,
        help=f"the longest to wait for registration (default {WAIT_MINUTES})",
    )
    parser.add_argument(
        "--state-storage", nargs=2, metavar=("RESOURCE_GROUP", "ACCOUNT"),
        help="create a storage account for Pulumi's state",
    )  # fmt: skip
    parser.add_argument(
        "--compute", action="append", default=[], metavar="VM_SIZE:NODES",
        help="check the vCPU quota for a cluster of NODES such VMs (repeat for each cluster)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        compute = [parse_compute(text) for text in args.compute]
    except ValueError as problem:
        parser.error(f"--compute {problem}")
    if args.wait_minutes < 0:
        parser.error(f"--wait-minutes {args.wait_minutes:g}: expected 0 or more")
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.resource.resources import ResourceManagementClient

    client = ResourceManagementClient(DefaultAzureCredential(), args.subscription_id)
    ok = preflight(
        client,
        args.subscription_id,
        args.location,
        print,
        register=args.register_providers,
        state_storage=tuple(args.state_storage) if args.state_storage else None,
        wait_seconds=args.wait_minutes * 60,
        compute=compute,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
