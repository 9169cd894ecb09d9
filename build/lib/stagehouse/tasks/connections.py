"""Open the connections of the instance a flow runs on.

Inside a run, pipedag's ConfigContext holds the merged ``attrs`` of the chosen instance, so a
flow run with ``--instance postgres`` reads the connections declared for ``postgres``.

Example::

    shop = connection("shop")  # inside a task
"""

from __future__ import annotations

from pathlib import Path

from pydiverse.pipedag import ConfigContext

from stagehouse.connectors import Connection, connect
from stagehouse.connectors.registry import WAREHOUSE, warehouse

PROJECT_DIR_ATTR = "project_dir"


def connection(name: str) -> Connection:
    """The connection ``name`` as declared for the running instance (``warehouse``: its store)."""
    context = ConfigContext.get()
    attrs = context.attrs
    specs = attrs.get("connections") or {}
    if name == WAREHOUSE and WAREHOUSE not in specs:
        url = context.store.table_store.engine.url.render_as_string(hide_password=False)
        return warehouse(url, instance=context.instance_name, instance_id=context.instance_id)
    return connect(name, specs=specs, base_dir=Path(attrs.get(PROJECT_DIR_ATTR) or Path.cwd()))
