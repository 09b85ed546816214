"""Reading ``pulumi config`` values, shared by both projects' config modules.

Values arrive as the CLI hands them to a program: strings, with lists as
JSON. Every failure is a ``ConfigError`` naming ``<project>:<key>`` and
where to set it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A stack config value is missing or invalid; the message names the key."""


class Reader:
    """Typed getters over raw config strings of one project (in ``folder``)."""

    def __init__(self, raw: Mapping[str, str | None], project: str, folder: str) -> None:
        self.raw = raw
        self.project = project
        self.folder = folder

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(
            f"{self.project}:{key}: {problem} (set it with `pulumi config set {key} ...`, "
            f"or in {self.folder}/Pulumi.<stack>.yaml)"
        )

    def _get(self, key: str) -> str:
        value = self.raw.get(key)
        if value is None:
            raise self.fail(key, f"is not set and has no default in {self.folder}/Pulumi.yaml")
        return value

    def text(self, key: str, pattern: str, rule: str) -> str:
        value = self._get(key)
        if not re.match(pattern, value):
            raise self.fail(key, f"{value!r} is not valid: expected {rule}")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key).strip().lower()
        if value not in ("true", "false"):
            raise self.fail(key, f"{value!r} is not a boolean: expected true or false")
        return value == "true"

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        try:
            number = int(value)
        except ValueError:
            raise self.fail(key, f"{value!r} is not an integer") from None
        if not low <= number <= high:
            raise self.fail(key, f"{number} is out of range: expected {low} to {high}")
        return number

    def strings(self, key: str) -> list[str]:
        value = self._get(key)
        try:
            items = json.loads(value)
        except ValueError:
            raise self.fail(key, "is not a list: expected a YAML list of strings") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise self.fail(key, "is not a list of strings")
        return items

    def object_id(self, key: str, item: str) -> str:
        try:
            uuid.UUID(item)
        except ValueError:
            raise self.fail(
                key, f"{item!r} is not an object id (a GUID, from `az ad group show`)"
            ) from None
        return item.lower()

    def pairs(self, key: str, what: str = "a pair") -> list[tuple[str, str]]:
        """A list of ``name=value`` strings, as (name, value) pairs."""
        found = []
        for item in self.strings(key):
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise self.fail(key, f"{item!r} is not {what}: expected name=value")
            found.append((name.strip(), value.strip()))
        return found

    def tags(self, key: str) -> dict[str, str]:
        return dict(self.pairs(key, "a tag"))


def raw_from_yaml(values: Mapping[str, Any]) -> dict[str, str]:
    """Config values as ``pulumi config`` hands them to a program: strings, with
    lists and objects as JSON and booleans in lowercase."""
    out = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out
