"""The stage tables of a versioned load, written by a pipedag table hook as one statement each.

A sync returns ``Table(VersionedView(select), name)`` and ``Table(LoadRecord(select), ...)``;
``StoredSelectTableHook`` creates them in the stage's transaction schema, where they commit with
the stage.

Example::

    Table(VersionedView(sa.select(versions).where(...)), "orders")
"""

from __future__ import annotations

import sqlalchemy as sa
from pydiverse.pipedag import Table
from pydiverse.pipedag.backend.table.sql.sql import SQLTableStore

from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.tasks.arrow_stream import WriteOnlyTableHook, compiled


class StoredSelect:
    """A stage table written from a SELECT inside the store, as a ``kind`` (VIEW or TABLE)."""

    kind = "TABLE"

    def __init__(self, select: sa.Select) -> None:
        self.select = select


class VersionedView(StoredSelect):
    """A stage table materialized as a VIEW of one load of a versioned table."""

    kind = "VIEW"


class LoadRecord(StoredSelect):
    """A load's one-row record (``state``, ``high_water``), copied into the stage as a table."""


@SQLTableStore.register_table()
class StoredSelectTableHook(WriteOnlyTableHook):
    """Materializes a ``StoredSelect`` with one ``CREATE VIEW/TABLE … AS`` in the stage's
    transaction schema. pipedag's own hook for a SELECT reflects every new table's columns
    afterwards, a catalog round on a DuckDB store for each table; these tables need nothing after."""

    materializes = StoredSelect

    @classmethod
    def materialize(cls, store: SQLTableStore, table: Table, stage_name: str, without_config_context: bool = False):
        schema = store.get_schema(stage_name).get()
        created = f"{quoted_name(store.engine, schema, table.name)} AS {compiled(store.engine, table.obj.select)}"
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"CREATE {table.obj.kind} {created}"))
