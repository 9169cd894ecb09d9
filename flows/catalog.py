"""Find flows: a flow is a module in ``flows/`` (or a folder on $STAGEHOUSE_FLOWS_PATH) that
defines ``build_flow()`` returning a pipedag Flow.

Modules are found by parsing their text, not importing them, so listing fifty flows costs
milliseconds and a broken flow only fails when it is run.

Example::

    flows/orders.py:
        def build_flow() -> Flow: ...

    load_flow("orders")  # the Flow it builds
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Any

from connectors.errors import StagehouseError

if TYPE_CHECKING:
    from pydiverse.pipedag import Flow

ENTRY_POINT = "build_flow"
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


def search_folders() -> list[Path]:
    """``flows/`` itself, then each folder of ``$STAGEHOUSE_FLOWS_PATH`` (os.pathsep separated)."""
    extra = [Path(p) for p in os.environ.get("STAGEHOUSE_FLOWS_PATH", "").split(os.pathsep) if p]
    return [PACKAGE_DIR, *extra]


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
                raise UnknownFlowError(f"{path}: {SCHEDULE} must be a literal (a cron string or a dict)", flow=path.stem) from exc
    return FlowModule(path.stem, path, doc.strip().splitlines()[0] if doc.strip() else "", schedule)


def list_flows() -> list[FlowModule]:
    """Every flow module found, by name; the first folder wins when two define the same name."""
    found: dict[str, FlowModule] = {}
    for folder in search_folders():
        for path in sorted(folder.glob("*.py")):
            if path.stem not in found and (module := _describe(path)):
                found[path.stem] = module
    return sorted(found.values(), key=lambda m: m.name)


def load_flow(name: str) -> Flow:
    """Import the flow module ``name`` and build its flow."""
    from pydiverse.pipedag import Flow

    modules = {m.name: m for m in list_flows()}
    if name not in modules:
        raise UnknownFlowError(
            f"no flow '{name}' (flows: {', '.join(modules) or 'none'}); a flow is a module in flows/ defining build_flow()",
            flow=name,
        )
    path = modules[name].path
    if path.parent == PACKAGE_DIR:
        module = importlib.import_module(f"flows.{name}")
    else:
        spec = importlib.util.spec_from_file_location(f"stagehouse_flow_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    flow = getattr(module, ENTRY_POINT)()
    if not isinstance(flow, Flow):
        raise UnknownFlowError(f"{path}: build_flow() returned {type(flow).__name__}, not a pipedag Flow", flow=name)
    return flow
