"""The cockpit's Files page without Streamlit: what each sync reads (SQL tables, REST objects,
file globs, SFTP folders), and the files of a file or SFTP connection.

Example::

    sources()
    # [{"flow": "crm", "stage": "raw", "task": "customers", "connection": "crm", "kind": "rest", "source": "customers"}]
    folder("files", "*.csv")
"""

from __future__ import annotations

from typing import Any

from stagehouse.connectors import connect
from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.settings import connection_specs
from stagehouse.flows.catalog import list_flows, load_flow

FILE_KINDS = ("files", "sftp")


class NotAFileConnectionError(StagehouseError):
    """``dir`` was asked of a connection that holds no files."""


def connection_kinds(instance: str | None) -> dict[str, str]:
    """Connection name -> its type (``sql``, ``rest``, ``files``, ``sftp``, …) as pipedag.yaml declares it."""
    specs, _ = connection_specs(instance)
    return {name: str((spec or {}).get("type", "?")) for name, spec in sorted(specs.items())}


def sources(instance: str | None) -> list[dict[str, Any]]:
    """Every sync task of every flow with the connection and source it reads."""
    from stagehouse.tasks.sync import sync_source

    kinds = connection_kinds(instance)
    rows = []
    for module in list_flows():
        if "sync(" not in module.path.read_text():
            continue
        try:
            tasks = load_flow(module.name).tasks
        except Exception as exc:  # noqa: BLE001 (one flow that does not build is named; the others are listed)
            rows.append(
                {
                    "flow": module.name,
                    "stage": "",
                    "task": "",
                    "connection": "",
                    "kind": "",
                    "source": f"does not build: {type(exc).__name__}: {first_line(exc)}",
                }
            )
            continue
        for task in tasks:
            found = sync_source(task)
            if found is not None:
                rows.append(
                    {
                        "flow": module.name,
                        "stage": task._stage.name,
                        "task": task._name,
                        "connection": found[0],
                        "kind": kinds.get(found[0], "?"),
                        "source": found[1],
                    }
                )
    return rows


def folder(name: str, instance: str | None, pattern: str = "*") -> list[dict[str, Any]]:
    """The files of connection ``name`` matching ``pattern`` (name, size, modified, UTC)."""
    kinds = connection_kinds(instance)
    if kinds.get(name) not in FILE_KINDS:
        file_connections = [n for n, k in kinds.items() if k in FILE_KINDS]
        raise NotAFileConnectionError(
            f"connection '{name}' is {kinds.get(name, 'not declared')}, not a file connection (file connections: "
            f"{', '.join(file_connections) or 'none'})",
            connection=name,
        )
    connection = connect(name, instance=instance)
    try:
        return [{"name": e.name, "size": e.size, "modified": e.modified} for e in connection.list(pattern)]
    finally:
        connection.close()
