"""Find flows: a flow is a module that defines ``build_flow()`` returning a pipedag Flow, in the
project's ``flows/`` folder (next to the pipedag.yaml in use), in a folder on
$STAGEHOUSE_FLOWS_PATH, or, in a project without flows of its own, shipped with Stagehouse (the
``nycflights`` demo).

Modules are found by parsing their text, not importing them, so listing fifty flows costs
milliseconds and a broken flow only fails when it is run. A project's modules load by path as
members of a private package per folder (``_stagehouse_flows_<hash>``), never through
``sys.path``: a project's ``flows/`` cannot shadow an installed package nor be shadowed by one,
and a flow imports its sibling modules relatively (``from . import helpers``).

Example::

    my_project/flows/orders.py:
        def build_flow() -> Flow: ...

    load_flow("orders")  # the Flow it builds
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagehouse.connectors.errors import ConfigFileError, StagehouseError
from stagehouse.connectors.settings import find_config_file

if TYPE_CHECKING:
    from pydiverse.pipedag import Flow

ENTRY_POINT = "build_flow"
PRIVATE_PREFIX = "_stagehouse_flows_"
SCHEDULE = "SCHEDULE"
PACKAGE_DIR = Path(__file__).parent


class UnknownFlowError(StagehouseError):
    """No flow module of that name was found."""


@dataclass(frozen=True)
class FlowModule:
    """A flow module on disk: its name (the file's stem), path, one-line description and its
    ``SCHEDULE`` literal if it declares one (see ``flows.schedule``)."""

    name: str
    path: Path
    description: str
    schedule: Any = None


def project_flows_folder() -> Path | None:
    """The ``flows/`` folder next to the pipedag.yaml in use, if there is one."""
    try:
        folder = find_config_file().parent / "flows"
    except ConfigFileError:
        return None
    return folder if folder.is_dir() else None


def search_folders() -> list[Path]:
    """The project's ``flows/``, then each folder of ``$STAGEHOUSE_FLOWS_PATH`` (os.pathsep
    separated). Stagehouse's own folder (the ``nycflights`` demo) only while the project has no
    ``flows/`` of its own: a team's project lists and schedules its own flows only. In
    Stagehouse's repo the project's folder is Stagehouse's own: it is searched once."""
    extra = [Path(p) for p in os.environ.get("STAGEHOUSE_FLOWS_PATH", "").split(os.pathsep) if p]
    project = project_flows_folder()
    folders = [project, *extra] if project else [*extra, PACKAGE_DIR]
    unique: dict[Path, Path] = {}
    for folder in folders:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def _describe(path: Path) -> FlowModule | None:
    tree = ast.parse(path.read_text(), filename=str(path))
    if not any(isinstance(node, ast.FunctionDef) and node.name == ENTRY_POINT for node in tree.body):
        return None
    doc = ast.get_docstring(tree) or ""
    schedule = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == SCHEDULE for t in node.targets):
            try:
                schedule = ast.literal_eval(node.value)
            except ValueError as exc:
                raise UnknownFlowError(
                    f"{path}: {SCHEDULE} must be a literal (a cron string or a dict)", flow=path.stem
                ) from exc
    return FlowModule(path.stem, path, doc.strip().splitlines()[0] if doc.strip() else "", schedule)


def scan_flows() -> tuple[list[FlowModule], dict[Path, Exception]]:
    """Every flow module found, by name, and the modules that could not be parsed (a syntax
    error, a SCHEDULE that is not a literal) with their error: ``stagehouse check`` reports each
    of those and goes on. The first folder wins when two define the same name."""
    found: dict[str, FlowModule] = {}
    broken: dict[Path, Exception] = {}
    for folder in search_folders():
        for path in sorted(folder.glob("*.py")):
            if path.stem in found:
                continue
            try:
                module = _describe(path)
            except (SyntaxError, ValueError, StagehouseError) as exc:
                broken[path] = exc
                continue
            if module:
                found[path.stem] = module
    return sorted(found.values(), key=lambda m: m.name), broken


def list_flows() -> list[FlowModule]:
    """Every flow module found, by name; the first folder wins when two define the same name.
    A module that cannot be parsed is left out (``broken_flows`` names it): one teammate's
    half-written file does not stop the other flows, nor their schedules."""
    return scan_flows()[0]


class BrokenFlowError(UnknownFlowError):
    """A module in a flows folder that cannot be parsed: a syntax error, a SCHEDULE that is no literal."""


def broken_flows() -> list[BrokenFlowError]:
    """One error per flows-folder module that cannot be parsed, naming its file and line."""
    return [_broken(path, exc) for path, exc in scan_flows()[1].items()]


def _broken(path: Path, exc: Exception) -> BrokenFlowError:
    if isinstance(exc, SyntaxError):
        problem = f"{path}, line {exc.lineno}: {type(exc).__name__}: {exc.msg}"
    else:
        problem = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    return BrokenFlowError(f"{problem}; fix the file (other flows run as usual)", flow=path.stem, path=str(path))


def load_flow(name: str) -> Flow:
    """Import the flow module ``name`` and build its flow."""
    from pydiverse.pipedag import Flow

    found, broken = scan_flows()
    modules = {m.name: m for m in found}
    if name not in modules and (path := next((p for p in broken if p.stem == name), None)):
        raise _broken(path, broken[path])
    if name not in modules:
        raise UnknownFlowError(
            f"no flow '{name}' (flows: {', '.join(modules) or 'none'}); a flow is a module in flows/ defining "
            "build_flow()",
            flow=name,
        )
    path = modules[name].path
    if path.parent.resolve() == PACKAGE_DIR.resolve():
        module = importlib.import_module(f"stagehouse.flows.{name}")
    else:
        module = _load_by_path(path)
    flow = getattr(module, ENTRY_POINT)()
    if not isinstance(flow, Flow):
        raise UnknownFlowError(f"{path}: build_flow() returned {type(flow).__name__}, not a pipedag Flow", flow=name)
    return flow


def _folder_package(folder: Path) -> str:
    """The private package whose members are the modules of ``folder`` (created on first use).

    Dask workers cannot import it: the Dask engine pickles its code by value (``private_packages``).
    """
    folder = folder.resolve()
    name = f"{PRIVATE_PREFIX}{hashlib.sha1(str(folder).encode()).hexdigest()[:10]}"
    if name not in sys.modules:
        package = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None, is_package=True))
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    return name


def private_packages() -> list:
    """The private packages project flows loaded in this process (``_folder_package``)."""
    return [module for name, module in list(sys.modules.items()) if name.startswith(PRIVATE_PREFIX) and "." not in name]


def _load_by_path(path: Path):
    """The flow module at ``path``, executed afresh (a long-lived process sees edits)."""
    name = f"{_folder_package(path.parent)}.{path.stem}"
    if name in sys.modules:
        return importlib.reload(sys.modules[name])
    return importlib.import_module(name)
