"""Preflight and one-time setup of a subscription for the stacks, with azure-mgmt-resource.

Run once by an admin after `az login` (DefaultAzureCredential):

    .venv/bin/python infra/bootstrap.py --subscription-id ID --location westeurope
    ... --register-providers                  # register what is missing
    ... --state-storage rg-pulumi-state stpulumistate1234   # Pulumi state in a blob container

It checks that every resource provider the stacks use is registered (and
registers the missing ones if asked) and that Azure ML offers workspaces in
the location; with ``--state-storage`` it creates a resource group, a
storage account (no shared keys, no public blobs, TLS 1.2, versioning) and a
``pulumi-state`` container for ``pulumi login azblob://pulumi-state``.
Exit code 0 when the subscription is ready, 1 when something is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

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
STATE_CONTAINER = "pulumi-state"

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
    missing ones are registered (which takes minutes: run again to see them ready)."""
    states = []
    for namespace in REQUIRED_PROVIDERS:
        state = client.providers.get(namespace).registration_state or "Unknown"
        if state not in ("Registered", "Registering") and register:
            state = client.providers.register(namespace).registration_state or "Registering"
            states.append(ProviderState(namespace, state, registering=True))
        else:
            states.append(ProviderState(namespace, state))
    return states


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
    # Versioning keeps every earlier state file: a bad `pulumi up` can be undone.
    client.resources.begin_create_or_update_by_id(
        f"{account_id}/blobServices/default",
        {"properties": {"isVersioningEnabled": True}},
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
) -> bool:
    """Check (and with the flags, prepare) the subscription; True when ready."""
    ready = True
    for provider in check_providers(client, register):
        note = " (registration requested)" if provider.registering else ""
        show(f"{'ok ' if provider.ready else 'NO '} {provider.namespace}: {provider.state}{note}")
        if not provider.ready:
            ready = False
    if not ready and not register:
        show("    register them with --register-providers (needs rights on the subscription)")
    problem = location_problem(client, location)
    show(f"{'NO ' if problem else 'ok '} location {location}" + (f": {problem}" if problem else ""))
    ready = ready and problem is None
    if state_storage and problem is None:
        group, account = state_storage
        url = create_state_storage(client, subscription_id, group, account, location)
        show(f"ok  Pulumi state: {url}")
        show(f"    AZURE_STORAGE_ACCOUNT={account} pulumi login azblob://{STATE_CONTAINER}")
    return ready


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscription-id", required=True)
    parser.add_argument("--location", default="westeurope")
    parser.add_argument("--register-providers", action="store_true")
    parser.add_argument(
        "--state-storage", nargs=2, metavar=("RESOURCE_GROUP", "ACCOUNT"),
        help="create a storage account for Pulumi's state",
    )  # fmt: skip
    args = parser.parse_args(argv)
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
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
