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
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("stagehouse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"stagehouse"}
    packaged = {str(Path(name).parent) for name in names if name.endswith("/__init__.py")}
    on_disk = {"stagehouse/" + str(init.parent.relative_to(REPO)) for layer in ("connectors", "tasks", "flows")
               for init in (REPO / layer).rglob("__init__.py") if "__pycache__" not in init.parts}
    assert on_disk <= packaged and "stagehouse/connectors/sql" in on_disk
