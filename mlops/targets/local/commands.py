"""Renders a component's ``command:`` with concrete values, as Azure ML does.

``${{inputs.NAME}}`` and ``${{outputs.NAME}}`` are replaced by their values,
quoted for the shell. An optional block ``$[[ ... ]]`` is kept (without its
brackets) only when every input it names has a value, and dropped otherwise.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from mlops.errors import UserError

PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_]\w*)\s*\}\}")
OPTIONAL_BLOCK = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)


class CommandError(UserError):
    """A placeholder of the command has no value."""


def render_command(
    template: str, inputs: Mapping[str, object | None], outputs: Mapping[str, object]
) -> str:
    """Return ``template`` with every placeholder replaced; raises CommandError
    for a placeholder outside an optional block that has no value."""

    def keep_block(match: re.Match[str]) -> str:
        names = [name for kind, name in PLACEHOLDER.findall(match[1]) if kind == "inputs"]
        return match[1] if all(inputs.get(name) is not None for name in names) else ""

    def substitute(match: re.Match[str]) -> str:
        kind, name = match[1], match[2]
        value = (inputs if kind == "inputs" else outputs).get(name)
        if value is None:
            raise CommandError(f"{kind}.{name} has no value")
        return shlex.quote(str(value))

    return PLACEHOLDER.sub(substitute, OPTIONAL_BLOCK.sub(keep_block, template))
