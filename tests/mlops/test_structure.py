"""How the packages depend on each other: no import circles, and the planes kept apart."""

import ast
from pathlib import Path

from tests.conftest import REPO


def imports_of(path: Path, package: str) -> set[str]:
    """Every module of ``package`` that the file imports, at any level (type-only too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.split(".")[0] == package}
    return found


def module_graph() -> dict[str, set[str]]:
    modules = {}
    for path in (REPO / "mlops").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return {
        name: {m for m in imports_of(path, "mlops") if m in modules and m != name}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = "open", trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = "done", trail.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_control_plane_has_no_import_circle():
    # A package importing its own __init__ re-exports is not a circle worth reporting.
    graph = {
        name: {m for m in deps if not name.startswith(m + ".")}
        for name, deps in module_graph().items()
    }
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_model_code_never_imports_the_control_plane():
    for path in (REPO / "pipelines" / "src").rglob("*.py"):
        assert not imports_of(path, "mlops"), path
