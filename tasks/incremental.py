"""What a sync already committed: the table readers see now, and its cursor's high-water mark.

The cursor of an incremental or merge sync is not stored apart from its data: the mark is a
column of the load record committed with the table (``tasks.versioned``), and for a record
written before marks were kept it is ``max(cursor)`` of the committed table. Data and cursor
therefore commit together in the stage's schema swap, and a run that fails or is killed leaves
both as they were — the next run re-extracts the same window. This is what keeps rows from
being lost or doubled.

Example::

    base = committed_table(engine, "raw", "orders")
    last = high_water_mark(engine, base, "updated_at")   # None on the first run
"""

from __future__ import annotations

import sqlalchemy as sa

from stagehouse.connectors.sql.described import described_table
from stagehouse.tasks.stores.engine import store_engine


def committed_table(engine: sa.Engine, schema: str, name: str) -> sa.Table | None:
    """The committed ``schema.name`` as readers see it (a table or pipedag's read view), or None."""
    return described_table(engine, schema, name)


def stage_schema(stage_name: str) -> str:
    """The schema readers see stage ``stage_name`` in, in the running instance's store."""
    from pydiverse.pipedag import ConfigContext

    return ConfigContext.get().store.table_store.get_schema(stage_name).get()


def committed_stage_table(stage_name: str, name: str) -> sa.Table | None:
    """The committed table ``name`` of stage ``stage_name`` in the running instance's store."""
    return committed_table(store_engine(), stage_schema(stage_name), name)


def committed_record(stage_name: str, name: str) -> tuple[sa.TableClause, sa.RowMapping] | None:
    """``first_row`` of the committed small table ``name`` (a load record) of stage
    ``stage_name`` in the running instance's store."""
    return first_row(store_engine(), stage_schema(stage_name), name)


def first_row(engine: sa.Engine, schema: str, name: str) -> tuple[sa.TableClause, sa.RowMapping] | None:
    """The first row of the small table ``schema.name`` and the table it came from, named by the
    columns it has; None if there is no such table or it is empty.

    Cheaper than ``committed_table``: an existence check and one SELECT instead of
    ``information_schema.columns``, which is slow on a DuckDB store and asked on every run.
    """
    if not sa.inspect(engine).has_table(name, schema=schema):
        return None
    with engine.connect() as conn:
        result = conn.execute(sa.select(sa.text("*")).select_from(sa.table(name, schema=schema)))
        row = result.mappings().first()
    if row is None:
        return None
    return sa.table(name, *(sa.column(column) for column in row.keys()), schema=schema), row
