"""Plan and write one load of a versioned table: in place, in one transaction, or as a new generation.

Example::

    view, load_row = apply_load(engine, "raw", "orders", previous, stream, LoadSpec("merge", ["id"], "updated_at"))
"""

from __future__ import annotations

import sqlalchemy as sa

from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.connectors.sql.metadata import VERSIONS_SCHEMA
from stagehouse.tasks.arrow_stream import ArrowStream, land, land_temporary
from stagehouse.tasks.errors import StoreWriteError
from stagehouse.tasks.evolution import SchemaConflictError
from stagehouse.tasks.merge import combined_rows, not_deleted, unique_rows
from stagehouse.tasks.stores.engine import store_of
from stagehouse.tasks.versioned.state import FROM_LOAD, TO_LOAD, CommittedLoad, LoadSpec, LoadState
from stagehouse.tasks.versioned.statements import (
    check_columns,
    in_place_statements,
    past_the_loaded,
    record_select,
    record_statement,
    same_columns,
    user_columns,
    view_at,
    visible_at,
)
from stagehouse.tasks.versioned.table import VersionedTable, execute_all, written_rows


def apply_load(
    engine: sa.Engine, stage: str, name: str, previous: CommittedLoad | None, stream: ArrowStream, spec: LoadSpec
) -> tuple[sa.Select, sa.Select]:
    """Write the new rows as the next load; return the SELECT of the stage's view and the SELECT
    of its one-row load record (``state``, ``high_water``)."""
    versioned = VersionedTable(engine, stage, name)
    committed_name = versioned.table_name(previous.state.generation) if previous else None
    nothing_new = stream.scan is None and stream.appends is None and not stream.open().schema.names
    if nothing_new and previous is None:
        raise StoreWriteError(name, "the source returned no records and no columns: nothing to create")
    delta_name = versioned.helper("delta")
    if previous is not None and not nothing_new and dialect_of(engine).capabilities.one_transaction_load:
        written = _load_in_one_transaction(versioned, previous, stream, spec)
        if written is not None:
            return written
    else:
        versioned.begin_load(previous.state if previous else None)
        if nothing_new:  # an API that returned nothing: the committed load stays
            assert previous is not None and committed_name is not None  # refused above without a load
            [kept] = versioned.reflect(committed_name)
            versioned.execute(record_statement(versioned, previous.state, None, kept, previous, spec))
            return view_at(kept, previous.state.load), record_select(versioned, spec)
        land(engine, VERSIONS_SCHEMA, delta_name, stream, label=name)
    reflected, *rest = versioned.reflect(delta_name, *([committed_name] if committed_name is not None else []))
    rows, committed = reflected, (rest[0] if rest else None)
    check_columns(rows, spec, stream.source, committed, name)
    if spec.key:
        versioned.analyze(delta_name, spec.key)
    delta = past_the_loaded(
        unique_rows(engine, VERSIONS_SCHEMA, rows, spec, stream.source, name), committed, previous, spec
    )
    # the load record and the clean-up commit with the load's last write
    drops = versioned.drop_statements(delta_name, versioned.helper("visible"))
    if previous is not None and committed is not None and same_columns(committed, delta):
        versions = committed
        with versioned.transaction() as conn:
            state = _write_in_place(conn, versioned, versions, delta, previous.state, spec, closed=None)
            execute_all(conn, record_statement(versioned, state, rows, committed, previous, spec), *drops)
        return view_at(versions, state.load), record_select(versioned, spec)
    # a new generation (the first, or evolved columns) holds no closed versions
    load, generation = (previous.state.load + 1, previous.state.generation + 1) if previous else (1, 1)
    if previous is None:
        first = sa.select(
            *delta.columns, sa.literal(load).label(FROM_LOAD), sa.cast(sa.null(), sa.BigInteger).label(TO_LOAD)
        )
        versions, visible = versioned.create_generation(
            generation, first.where(not_deleted(delta, spec.deleted_column)), spec.key
        )
    else:
        try:
            versions, visible = _rebuild(versioned, committed, delta, previous.state.load, load, generation, spec)
        except SchemaConflictError as exc:
            raise exc.from_source(stream.source) from exc
    state = LoadState(load=load, generation=generation, closed=0, rows=visible)
    versioned.execute(record_statement(versioned, state, rows, committed, previous, spec), *drops)
    return view_at(versions, state.load), record_select(versioned, spec)


def _load_in_one_transaction(
    versioned: VersionedTable, previous: CommittedLoad, stream: ArrowStream, spec: LoadSpec
) -> tuple[sa.Select, sa.Select] | None:
    """A DuckDB load after the first: the load begins (``VersionedTable.begin``), the delta lands
    as a TEMP table and is merged, and the load record is written, all in one transaction — the
    delta never reaches the database file or its WAL, and the load commits once. Should it fail, nothing of
    it is there: the start
    record commits with the rows it announces.

    Returns None when the delta's columns need a new generation: the delta is then kept as the
    regular helper table, for the rebuild (rare: a schema change).
    """
    delta_name = versioned.helper("delta")
    with versioned.transaction() as conn:
        closed = versioned.begin(conn, previous.state)
        [committed] = versioned.reflect(versioned.table_name(previous.state.generation), bind=conn)
        land_temporary(conn, delta_name, stream, label=versioned.name)
        rows = store_of(conn).temporary_table(conn, delta_name)
        check_columns(rows, spec, stream.source, committed, versioned.name)
        quote = conn.dialect.identifier_preparer.quote
        if not same_columns(committed, rows):
            conn.exec_driver_sql(
                f"CREATE TABLE {quoted_name(versioned.engine, VERSIONS_SCHEMA, delta_name)} AS SELECT * FROM "
                f"{quote(delta_name)}"
            )
            conn.exec_driver_sql(f"DROP TABLE {quote(delta_name)}")
            return None
        delta = past_the_loaded(
            unique_rows(conn, None, rows, spec, stream.source, versioned.name), committed, previous, spec
        )
        state = _write_in_place(conn, versioned, committed, delta, previous.state, spec, closed=closed)
        execute_all(
            conn,
            record_statement(versioned, state, rows, committed, previous, spec),
            f"DROP TABLE {quote(delta_name)}",  # a pooled connection outlives the load
        )
    return view_at(committed, state.load), record_select(versioned, spec)


def _write_in_place(
    conn: sa.Connection,
    versioned: VersionedTable,
    versions: sa.Table,
    delta: sa.FromClause,
    previous: LoadState,
    spec: LoadSpec,
    closed: int | None,
) -> LoadState:
    """Close the versions the delta replaces and insert it as the next load, on ``conn``; returns
    the load's state, its visible rows counted from the statements' row counts (the committed
    rows, minus those closed, plus those inserted) and ``closed`` (None: not kept) grown by the
    versions it closed."""
    load = previous.load + 1
    *closing, inserting = in_place_statements(conn, versioned.name, versions, delta, load, spec)
    replaced = sum(written_rows(conn, statement) for statement in closing)
    inserted = written_rows(conn, inserting)
    visible = previous.rows - replaced + inserted
    return LoadState(
        load=load, generation=previous.generation, closed=None if closed is None else closed + replaced, rows=visible
    )


def _rebuild(
    versioned, versions, delta, committed: int, load: int, generation: int, spec: LoadSpec
) -> tuple[sa.Table, int]:
    """A new generation with evolved columns: the committed rows plus the delta, all as ``load``;
    returns it and its row count."""
    visible, _ = versioned.create_as(
        versioned.helper("visible"), sa.select(*user_columns(versions)).where(visible_at(versions, committed))
    )
    rows = combined_rows(
        versioned.engine,
        visible,
        delta,
        versioned.name,
        mode="merge" if spec.mode == "merge" else "append",
        key=spec.key,
        deleted_column=spec.deleted_column,
        on_conflict=spec.on_conflict,
    ).subquery("combined")
    stamped = sa.select(rows, sa.literal(load).label(FROM_LOAD), sa.cast(sa.null(), sa.BigInteger).label(TO_LOAD))
    return versioned.create_generation(generation, stamped, spec.key)
