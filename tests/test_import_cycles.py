"""Imports run one way: no two domain packages or top-level modules import each other, directly or round a ring.

Modules of broker/ are grouped two levels deep (broker.registration.profiles.canvas belongs to
broker/registration; broker/app.py is broker/app), so a subpackage importing its parent is no cycle, but
sibling domains importing each other are. tenants/ and admin_ui/ are one node each: tenants/ builds on broker's
infrastructure (database, settings, the guarded client, refusals, the LTI vocabulary) and on nothing that
imports tenants/ back. Imports under `if TYPE_CHECKING:` do not run, so they do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("broker", "tenants", "admin_ui")
WHOLE_PACKAGES = ("tenants", "admin_ui")


def node_of(module: str) -> str | None:
    """The package directory (at most two levels deep) or top-level module a dotted name belongs to."""
    parts = module.split(".")
    if parts[0] in WHOLE_PACKAGES:
        return parts[0]
    for length in range(len(parts), 0, -1):
        path = ROOT.joinpath(*parts[:length])
        if (path / "__init__.py").exists() or path.with_suffix(".py").exists():
            return "/".join(parts[: min(length, 2)]) if length >= 2 else None
    return None


def runtime_imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module (and `module.name`) the code imports when it runs; TYPE_CHECKING blocks skipped."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for orelse in node.orelse:
                yield from runtime_imports(orelse, module, is_package)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".") if is_package else module.split(".")[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        else:
            yield from runtime_imports(node, module, is_package)


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).with_suffix("")
            is_package = relative.name == "__init__"
            module = ".".join(relative.parts[:-1] if is_package else relative.parts)
            source = node_of(module)
            if source is None:
                continue
            edges = graph.setdefault(source, set())
            for imported in runtime_imports(ast.parse(path.read_text()), module, is_package):
                target = node_of(imported) if imported.split(".")[0] in PACKAGES else None
                if target is not None and target != source:
                    edges.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            successor = next(successors, None)
            if successor is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif successor not in index:
                index[successor] = low[successor] = len(index)
                stack.append(successor)
                on_stack.add(successor)
                work.append((successor, iter(sorted(graph.get(successor, ())))))
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
    return found


def test_no_import_cycle_between_packages_and_top_level_modules() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycles_are_found(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_type_checking_imports_do_not_count_but_function_level_ones_do() -> None:
    code = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from broker.app import create_app\n"
        "def later():\n    from tenants import models\n"
    )
    assert set(runtime_imports(ast.parse(code), "broker.example", False)) == {
        "typing", "typing.TYPE_CHECKING", "tenants", "tenants.models",
    }
