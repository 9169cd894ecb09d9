"""The load of a full refresh: an incremental or merge sync's table rebuilt from the whole source.

A normal load adds a delta to the committed versions (``tasks.versioned.apply_load``). A full
refresh (``tasks.full_refresh``) must also drop the rows the source deleted, which no delta
tells, so its rows become a new generation of their own, and its high-water mark is their
greatest cursor, not the committed mark. The committed generation is not touched: readers see
it until the stage's schema swap commits the new one, and if the run fails or is killed, the next
run's ``begin`` drops the uncommitted generation and resumes from the committed load and mark.

Example::

    view, load_row = reload(engine, "raw", "orders", previous, stream, LoadSpec("merge", ["id"], "updated_at"))
"""

from __future__ import annotations

import sqlalchemy as sa

from stagehouse.connectors.sql.metadata import VERSIONS_SCHEMA
from stagehouse.tasks.arrow_stream import ArrowStream, land
from stagehouse.tasks.merge import not_deleted, unique_rows
from stagehouse.tasks.versioned.state import FROM_LOAD, TO_LOAD, CommittedLoad, LoadSpec, LoadState
from stagehouse.tasks.versioned.statements import check_columns, record_select, record_statement, view_at
from stagehouse.tasks.versioned.table import VersionedTable


def reload(
    engine: sa.Engine, stage: str, name: str, previous: CommittedLoad, stream: ArrowStream, spec: LoadSpec
) -> tuple[sa.Select, sa.Select]:
    """Write the source's rows as the next load, replacing every committed row; return the SELECT
    of the stage's view and of its one-row load record, as ``apply_load`` does."""
    versioned = VersionedTable(engine, stage, name)
    versioned.begin_load(previous.state)
    load, generation = previous.state.load + 1, previous.state.generation + 1
    if stream.scan is None and not stream.open().schema.names:
        # an API that returned no records at all: the table keeps its columns and has no rows
        [committed] = versioned.reflect(versioned.table_name(previous.state.generation))
        versions, visible = versioned.create_generation(
            generation, sa.select(*committed.columns).where(sa.false()), spec.key
        )
        rows = versions  # its mark: NULL, in the cursor's type
    else:
        land(engine, VERSIONS_SCHEMA, versioned.helper("delta"), stream, label=name)
        [rows] = versioned.reflect(versioned.helper("delta"))
        check_columns(rows, spec, stream.source)
        delta = unique_rows(engine, VERSIONS_SCHEMA, rows, spec, stream.source, name)
        first = sa.select(
            *delta.columns, sa.literal(load).label(FROM_LOAD), sa.cast(sa.null(), sa.BigInteger).label(TO_LOAD)
        )
        versions, visible = versioned.create_generation(
            generation, first.where(not_deleted(delta, spec.deleted_column)), spec.key
        )
    state = LoadState(load=load, generation=generation, closed=0, rows=visible)
    drops = versioned.drop_statements(versioned.helper("delta"), versioned.helper("visible"))
    versioned.execute(record_statement(versioned, state, rows, None, None, spec), *drops)
    return view_at(versions, state.load), record_select(versioned, spec)
