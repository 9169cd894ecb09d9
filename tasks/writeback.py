"""``writeback``: a flow task that pushes a table's edits from the change log to the source app.

Typically the only task of a ``writeback`` stage after the stage that syncs the table. It always
runs (an edit can arrive between two runs without any input changing) and returns one row per
change it handled — change id, final status, error — as a stage table, so a run's outcome is
queryable beside the data. Passing ``after=`` the sync's output orders it after the sync's stage
commit, so the edits earlier runs PROCESSED are judged against the data that sync just brought:
those it confirms stop being layered on reads (``connectors.sql.confirm``).

Example::

    with Stage("raw"):
        customers = sync("crm", "customers", mode="merge", primary_key="id")
    with Stage("writeback"):
        writeback("raw.customers", "crm", "customers", after=customers, field_map={"email": "emailAddress"})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import polars as pl
import sqlalchemy as sa
from pydiverse.pipedag import ConfigContext, Table, materialize

from stagehouse.tasks.connections import connection, names_connections
from stagehouse.tasks.errors import TaskDefinitionError

logger = logging.getLogger(__name__)
WRITEBACK_TABLE = "_stagehouse_writeback_table"


def writeback(
    table: str,
    connection_name: str,
    object_name: str,
    *,
    after: Any = None,
    field_map: Mapping[str, str] | None = None,
    include_failed: bool = False,
    overwrite: bool = False,
    concurrency: int = 8,
    name: str | None = None,
):
    """Create and call the writeback task of ``table`` ("schema.table" in the store) to
    ``connection_name``'s object ``object_name``; returns its result table."""
    if "." not in table:
        raise TaskDefinitionError(f"writeback table '{table}': give it as 'stage.table'")
    task_name = name or f"writeback_{object_name}"

    @materialize(name=task_name, input_type=sa.Table, version=None)
    def push(_upstream: Any) -> Table:
        log = connection("warehouse")
        api = connection(connection_name)
        try:
            from stagehouse.connectors.writeback import push_changes  # its HTTP client loads when a writeback runs

            report = push_changes(
                log,
                table,
                api,
                object_name,
                field_map=field_map,
                include_failed=include_failed,
                overwrite=overwrite,
                concurrency=concurrency,
            )
        finally:
            api.close()
            log.close()
        unsent = {status: n for status, n in report.counts.items() if status in ("CONFLICT", "FAILED")}
        if unsent:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(unsent.items()))
            options = " ".join(f"--status {status}" for status in sorted(unsent))
            instance = ConfigContext.get().instance_name
            logger.warning(
                "writeback of %s to %s.%s: %s (see: stagehouse changes %s %s --instance %s)",
                table,
                connection_name,
                object_name,
                counts,
                table,
                options,
                instance,
            )
        rows = {
            "change_id": [o[0] for o in report.outcomes],
            "writeback_status": [o[1] for o in report.outcomes],
            "error": [o[2] for o in report.outcomes],
        }
        return Table(
            pl.DataFrame(rows, schema={"change_id": pl.Int64, "writeback_status": pl.Utf8, "error": pl.Utf8}),
            name=task_name,
        )

    output = names_connections(push(after), connection_name)
    setattr(getattr(output, "_task", output), WRITEBACK_TABLE, table)  # the cockpit starts a table's writeback by it
    return output


def writeback_table(task: Any) -> str | None:
    """The store table ("schema.table") a flow's ``writeback`` task pushes, or None for any other task."""
    return getattr(task, WRITEBACK_TABLE, None)
