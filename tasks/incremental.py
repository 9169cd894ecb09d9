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

from connectors.sql.native import described_table, high_water_mark
from tasks.keys import store_engine


def committed_table(engine: sa.Engine, schema: str, name: str) -> sa.Table | None:
    """The committed ``schema.name`` as readers see it (a table or pipedag's read view), or None."""
    return described_table(engine, schema, name)


def committed_stage_table(stage_name: str, name: str) -> sa.Table | None:
    """The committed table ``name`` of stage ``stage_name`` in the running instance's store."""
    from pydiverse.pipedag import ConfigContext

    store = ConfigContext.get().store.table_store
    return committed_table(store_engine(), store.get_schema(stage_name).get(), name)
