"""Imports match pyproject.toml: every library the code imports is declared, the service's own in its
dependencies and the tests' and benches' in an extra, so a fresh install has what it runs (a library that only
came along with another one can leave with its next release)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ("broker", "tenants", "admin_ui", "migrations")
AROUND_IT = ("tests", "bench")
OWN = frozenset((*SERVICE, *AROUND_IT))


def _name(requirement: str) -> str:
    """`uvicorn[standard]>=0.30,<1` → `uvicorn`, spelled as PEP 503 compares names."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {_name(item) for items in project["optional-dependencies"].values() for item in items}
    return {_name(item) for item in project["dependencies"]}, extras


def _imported(folder: str) -> dict[str, str]:
    """Top-level modules imported by the code under `folder`, each with one file that imports it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return {name: path for name, path in found.items() if name not in sys.stdlib_module_names and name not in OWN}


def _undeclared(folders: tuple[str, ...], declared: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for folder in folders:
        for module, path in _imported(folder).items():
            names = {_name(distribution) for distribution in distributions.get(module, [])}
            if not names & declared:
                missing.append(f"{module} (imported by {path}; installed from {sorted(names) or 'nothing'})")
    return missing


def test_the_service_imports_only_its_declared_dependencies() -> None:
    dependencies, _ = _declared()
    assert _undeclared(SERVICE, dependencies) == []


def test_tests_and_benches_import_only_declared_libraries() -> None:
    dependencies, extras = _declared()
    assert _undeclared(AROUND_IT, dependencies | extras) == []
