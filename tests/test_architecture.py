"""The three packages are the architecture: imports point flows -> tasks -> connectors only.

Under the one namespace they are ``stagehouse.connectors``, ``stagehouse.tasks`` and
``stagehouse.flows`` (the repo's ``connectors/``, ``tasks/``, ``flows/``); only the top-level
``stagehouse`` package, the public facade, names all three.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "connectors": {"tasks", "flows", "pydiverse"},
    "tasks": {"flows"},
}


def layer(module: str) -> str:
    """The architecture layer a module name belongs to: ``stagehouse.tasks.sync`` -> ``tasks``;
    outside the namespace, its top-level package (``pydiverse``)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "stagehouse" and len(parts) > 1 else parts[0]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(layer(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(layer(node.module))
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_downward(package):
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (REPO / package).rglob("*.py")
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_the_wheel_holds_one_namespace_with_every_subpackage(tmp_path):
    """Built as CI builds it: the wheel's only top-level import name is ``stagehouse``, and every
    folder with an ``__init__.py`` under the three layers is in it, as ``stagehouse.<layer>...``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("stagehouse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"stagehouse"}
    packaged = {str(Path(name).parent) for name in names if name.endswith("/__init__.py")}
    on_disk = {
        "stagehouse/" + str(init.parent.relative_to(REPO))
        for layer in ("connectors", "tasks", "flows")
        for init in (REPO / layer).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk <= packaged and "stagehouse/connectors/sql" in on_disk


ADAPTERS = ("connectors/sql/dialects", "tasks/stores")
DIALECT_NAMES = frozenset(
    {"duckdb", "postgresql", "postgres", "mysql", "mariadb", "sqlite", "mssql", "oracle", "snowflake", "bigquery"}
)
MAX_MODULE_LINES = 400


def _names_a_dialect(node: ast.AST) -> bool:
    """A string constant that is a dialect's name, or a tuple/list/set of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in DIALECT_NAMES
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_names_a_dialect(e) for e in node.elts)


def dialect_checks(source: str) -> list[int]:
    """Lines that test a database's dialect by its name: any ``<x>.dialect.name``, and any
    comparison (``==``, ``!=``, ``in``) with a dialect's name; adapters answer those questions."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        reads_name = (
            isinstance(node, ast.Attribute)
            and node.attr == "name"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "dialect"
        )
        compares_name = isinstance(node, ast.Compare) and any(
            _names_a_dialect(o) for o in (node.left, *node.comparators)
        )
        if reads_name or compares_name:
            lines.append(node.lineno)
    return sorted(set(lines))


def test_the_dialect_check_finder_sees_each_form():
    found = dialect_checks(
        "a = engine.dialect.name == 'duckdb'\n"
        "b = conn.dialect.name in COMMENTABLE\n"
        "c = url.get_backend_name() != 'postgresql'\n"
        "d = backend in ('mysql', 'mariadb')\n"
        "e = dialect_of(engine).capabilities.bulk_load\n"
        "f = kind == 'VIEW'\n"
    )
    assert found == [1, 2, 3, 4]


def test_no_dialect_name_checks_outside_the_adapters():
    """A store or source dialect's differences live in its adapter (``connectors/sql/dialects/``,
    ``tasks/stores/``); everything else asks ``dialect_of(engine)``, so a new dialect is one module."""
    offenders = {
        str(path.relative_to(REPO)): dialect_checks(path.read_text())
        for layer in FORBIDDEN.keys() | {"flows"}
        for path in (REPO / layer).rglob("*.py")
        if not str(path.relative_to(REPO)).startswith(ADAPTERS) and dialect_checks(path.read_text())
    }
    assert offenders == {}


def test_modules_stay_small():
    """One job per module: none of the three layers has a module over MAX_MODULE_LINES lines."""
    long_modules = {
        str(path.relative_to(REPO)): lines
        for layer in ("connectors", "tasks", "flows")
        for path in (REPO / layer).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long_modules == {}
