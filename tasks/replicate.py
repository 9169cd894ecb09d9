"""``replicate``: a flow task that copies a table or query into another database.

The source is a table of this flow (a task's output, read from the table store), a table of any
SQL connection (``"shop:public.orders"``), or a query on one (``"shop"`` with ``query=``). The
copy itself is ``connectors.sql.replicate``: bulk path, side table, one swap or merge transaction
on the target. The task returns one row (target, mode, rows, inserted, updated, since, seconds)
as a stage table, so what each run copied is queryable beside the data.

A flow's table is copied again when it changed (pipedag's input hashing); a connection's table
when its row count or ``max(incremental_field)`` changed, and on every run when neither tells
(a full copy without an incremental field). Put it in a flow with a ``SCHEDULE`` to run it
periodically.

Example::

    with Stage("publish"):
        replicate(orders, "bi", "analytics")                       # store table -> PostgreSQL
        replicate("shop:public.events", "warehouse", "mirror", incremental_field="id")
        replicate("shop", "bi", "analytics", "daily", query="SELECT day, sum(total) ...")
"""

from __future__ import annotations

import re
import time
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from pydiverse.pipedag import Table, materialize

from stagehouse.connectors.sql.replicate import ReplicationReport, parse_source
from stagehouse.connectors.sql.replicate import replicate as replicate_rows
from stagehouse.tasks.connections import connection, names_connections
from stagehouse.tasks.errors import TaskDefinitionError

REPLICATE_VERSION = "stagehouse-replicate-1"
NOT_A_NAME = re.compile(r"[^a-z0-9_]+")


def report_frame(report: ReplicationReport) -> pd.DataFrame:
    """The task's one-row result table."""
    return pd.DataFrame(
        [
            {
                "source": report.source,
                "target": report.target,
                "mode": report.mode,
                "rows": report.rows,
                "inserted": report.inserted,
                "updated": report.updated,
                "since": None if report.since is None else str(report.since),
                "seconds": round(report.seconds, 3),
            }
        ]
    )


def _table_name(source: Any, table: str | None) -> str:
    """The source's table name for the task's name: ``orders`` of ``"shop:public.orders"``, of the
    task ``sync_orders`` or of the transform ``orders``."""
    if table is not None:
        return table.rpartition(".")[2]
    task = getattr(source, "_task", source)  # an output picked from a task with several outputs
    return getattr(task, "_name", "table").removeprefix("sync_")


def replicate(
    source: Any,
    target_connection: str,
    target_schema: str,
    target_table: str | None = None,
    incremental_field: str | None = None,
    pk: str | list[str] | None = None,
    *,
    query: str | None = None,
    version: str | None = None,
):
    """Add a task copying ``source`` to ``target_connection``'s ``target_schema.target_table``.

    ``target_table`` defaults to the source table's name. ``incremental_field`` (a timestamp or
    number column) copies only newer rows, merged by ``pk`` when given, else appended; without
    it the target table is replaced as a whole. ``version`` forces a copy when bumped.
    """
    from_store = not isinstance(source, str)
    if from_store and query is not None:
        raise TaskDefinitionError("replicate of a flow table takes no query=; use an sql_transform for the query first")
    connection_name, table = ("warehouse", None) if from_store else parse_source(source, query)
    if target_table is None and table is None and not from_store:
        raise TaskDefinitionError("replicating a query needs target_table=")
    label = NOT_A_NAME.sub("_", f"{target_connection}_{target_table or _table_name(source, table)}".lower())

    def copy(store_table: sa.Table | sa.Alias | None) -> Table:
        if isinstance(store_table, sa.Alias):
            store_table = cast(sa.Table, store_table.original)  # pipedag aliases a stage table
        source_table = f"{store_table.schema}.{store_table.name}" if store_table is not None else table
        source_conn, target_conn = connection(connection_name), connection(target_connection)
        try:
            report = replicate_rows(
                source_conn,
                target_conn,
                target_schema,
                target_table,
                table=None if query else source_table,
                query=query,
                incremental_field=incremental_field,
                pk=pk,
            )
        finally:
            source_conn.close()
            target_conn.close()
        return Table(report_frame(report), f"replicate_{label}")

    def freshness(store_table: Any) -> Any:
        if from_store:
            return None  # pipedag's input hashing notices a changed flow table
        if not incremental_field:
            return {"at": time.time()}  # nothing cheap tells a change: copy on every run
        with connection(connection_name) as conn:
            return conn.freshness(table, query=query, cursor=incremental_field)

    task = materialize(
        copy,
        name=f"replicate_{label}",
        input_type=sa.Table,
        version=f"{REPLICATE_VERSION}/{version or 0}",
        cache=freshness,
    )
    return names_connections(task(source if from_store else None), connection_name, target_connection)
