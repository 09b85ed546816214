"""Which blobs of Pulumi's state container each environment's identities may
read and write: the condition (Azure ABAC, version 2.0) on their role assignment.

Every stack keeps its state in one container, ``pulumi-state`` (bootstrap.py),
because an environment stack reads the platform stack through a
StackReference, and a self-managed backend resolves references only within
itself (pulumi/pulumi#3395): a container per environment would cut the
environments off from the platform. What separates the environments instead
is a condition on the blob path (``@Resource[...blobs:path]``).

The layout of Pulumi's self-managed ("DIY") backend in project mode, which a
current CLI writes on the first login to an empty container
(pulumi/pulumi ``pkg/backend/diy``: ``store.go``, ``state.go``, ``lock.go``,
``meta.go``, ``stack_tags.go``)::

    .pulumi/meta.yaml                                  read on every login; written only
                                                       when the container is empty
    .pulumi/stacks/<project>/<stack>.json[.gz|.zst]    the checkpoint, beside .bak (the one
                                                       before) and .pulumi-tags (stack tags)
    .pulumi/history/<project>/<stack>/...              <stack>-<ns>.history.json and
                                                       .checkpoint.json, per update
    .pulumi/backups/<project>/<stack>/...              <stack>.<ns>.json, per update
    .pulumi/journal/<project>/<stack>/...              the journal of an update in progress
    .pulumi/locks/organization/<project>/<stack>/<uuid>.json
                                                       taken by up, refresh, destroy, import
                                                       and stack init/rm/rename; never by
                                                       preview (pulumi/pulumi#8642)

A stack's own writes all fall under these paths; reading a StackReference
reads the referenced stack's checkpoint. Listing is not limited: Azure's
List Blobs carries no blob path (only the request's prefix), Pulumi lists
with prefixes outside a stack's own paths (``.pulumi/stacks/`` for legacy
stacks on every login, ``.pulumi/stacks/<project>/`` on ``stack init``), and
what a listing shows is blob names, not their contents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATE_CONTAINER = "pulumi-state"

_DATA = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
READ = f"{_DATA}/read"
# Every data action of Storage Blob Data Contributor that changes a blob (move
# only exists with a hierarchical namespace; named so that turning one on
# cannot widen the grant).
WRITES = (f"{_DATA}/write", f"{_DATA}/add/action", f"{_DATA}/delete", f"{_DATA}/move/action")
PATH = f"@Resource[{_DATA}:path]"

# The blob roles that may be granted on the state container, each only with
# the condition of ``StackState.condition`` (writes=True for the contributor).
WRITER = "Storage Blob Data Contributor"
READER = "Storage Blob Data Reader"
# Storage Blob Data Owner: all of the contributor's, plus version deletes and ACLs.
OWNER_GUID = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"

_NAME = r"[A-Za-z0-9_.-]+"
_CONTAINER = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/"
    rf"storageAccounts/[^/]+/blobServices/default/containers/{STATE_CONTAINER}/?$",
    re.IGNORECASE,
)


def is_state_container(scope: str) -> bool:
    """Whether ``scope`` is a resource id of Pulumi's state container."""
    return bool(_CONTAINER.match(scope))


@dataclass(frozen=True)
class StackState:
    """One stack's place in the state container, and the stack it reads
    through a StackReference (the platform stack)."""

    project: str
    stack: str
    platform_project: str
    platform_stack: str

    def own_paths(self) -> tuple[str, ...]:
        """``StringLike`` patterns of every blob this stack writes: its
        checkpoint and what sits beside it, its history, backups, journal and locks."""
        p, s = self.project, self.stack
        # "<stack>.*", not "<stack>*": stack dev must not match a stack dev2.
        return (
            f".pulumi/stacks/{p}/{s}.*",
            f".pulumi/history/{p}/{s}/*",
            f".pulumi/backups/{p}/{s}/*",
            f".pulumi/journal/{p}/{s}/*",
            f".pulumi/locks/organization/{p}/{s}/*",
        )

    def readable_paths(self) -> tuple[str, ...]:
        """What the stack's identities read: the backend's metadata, its own
        paths, and the checkpoint of the stack it references."""
        return (
            ".pulumi/meta.yaml",
            *self.own_paths(),
            f".pulumi/stacks/{self.platform_project}/{self.platform_stack}.*",
        )

    def condition(self, writes: bool) -> str:
        """The condition, in Azure's version 2.0 grammar, under which a blob role
        on the state container reads blob contents only at ``readable_paths`` and,
        with ``writes``, creates, overwrites and deletes blobs only at ``own_paths``."""
        read = (
            f"((!(ActionMatches{{'{READ}'}} AND NOT SubOperationMatches{{'Blob.List'}})) OR "
            f"({_any_path(self.readable_paths())}))"
        )
        if not writes:
            return read
        blocked = " AND ".join(f"!(ActionMatches{{'{action}'}})" for action in WRITES)
        return f"{read} AND (({blocked}) OR ({_any_path(self.own_paths())}))"


def _any_path(patterns: tuple[str, ...]) -> str:
    return " OR ".join(f"{PATH} StringLike '{pattern}'" for pattern in patterns)


_OWN = re.compile(
    rf"StringLike '\.pulumi/stacks/({_NAME})/({_NAME})\.\*' OR .*"
    rf"StringLike '\.pulumi/stacks/({_NAME})/({_NAME})\.\*'\)\)"
)


def parse(condition: str) -> tuple[StackState, bool] | None:
    """The stack and whether writes are allowed, when ``condition`` is exactly
    a ``StackState.condition``; else None."""
    found = _OWN.search(condition)
    if not found:
        return None
    state = StackState(*found.groups())
    for writes in (False, True):
        if condition == state.condition(writes):
            return state, writes
    return None
