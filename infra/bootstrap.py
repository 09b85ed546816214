"""Preflight and one-time setup of a subscription for the stacks, with azure-mgmt-resource.

Run once by an admin after `az login` (DefaultAzureCredential):

    .venv/bin/python infra/bootstrap.py --subscription-id ID --location westeurope
    ... --register-providers                  # register what is missing, and wait for it
    ... --state-storage rg-pulumi-state stpulumistate1234   # Pulumi state in a blob container

It checks that every resource provider the stacks use is registered (with
``--register-providers`` it registers the missing ones and waits until Azure
reports them registered, at most ``--wait-minutes``) and that Azure ML
offers workspaces in the location; with ``--state-storage``, once both hold,
it creates a resource group, a storage account (no shared keys, no public
blobs, TLS 1.2, versioning, deleted containers kept) and the ``pulumi-state``
container every stack keeps its state in (see state_access.py).
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
) -> bool:
    """Check (and with the flags, prepare) the subscription; True when ready.
    With ``register``, waits up to ``wait_seconds`` for the registrations (see
    ``wait_for_registration``) before it checks anything else."""
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
    if state_storage and ready:
        group, account = state_storage
        url = create_state_storage(client, subscription_id, group, account, location)
        show(f"ok  Pulumi state: {url}")
        show(f"    pulumi login 'azblob://{STATE_CONTAINER}?storage_account={account}'")
    elif state_storage:
        show("--  Pulumi state: not created until the subscription is ready")
    return ready


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
    args = parser.parse_args(argv)
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
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
