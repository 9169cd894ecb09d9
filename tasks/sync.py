"""``sync``: a pipedag task that copies a source table, query or file set into the stage.

The task is cached on the source's freshness: the content hash of the matching files; for a
full sync of a SQL table or query, its row count and a hash of every row computed in the source
(``connectors.sql.fingerprint``; a dialect without one, SQLite, always reloads); for an
incremental or merge sync, the cursor's maximum and how many rows hold it; for a REST object
one cheap request (its ``freshness`` request, or "any record past the committed mark?"); or an
explicit ``cache``.
An unchanged source is CACHE_VALID on rerun; a changed one re-runs this task and, through
pipedag's input hashing, exactly the tasks downstream of it.

Modes: ``full`` replaces the table; ``incremental`` appends the rows whose cursor is past the
committed high-water mark; ``merge`` upserts them by primary key (and removes rows whose
``deleted_column`` is true). The mark is kept in the load record the sync commits with its data
(``tasks.versioned``, ``tasks.incremental``).
A full refresh (``tasks.full_refresh``) makes a run ignore the committed load: the whole source
is read and replaces the table (``tasks.reload``), which the schema swap commits.

Example::

    with Flow("shop") as flow:
        with Stage("raw"):
            orders = sync("shop_db", "public.orders", mode="merge", cursor="updated_at")
            events = sync("shop_db", "public.events", mode="incremental", cursor="id")
            rates = sync("drops", "rates_*.csv", name="rates", primary_key="currency")
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from pydiverse.pipedag import Table, materialize
from pydiverse.pipedag.context import TaskContext

from stagehouse.connectors.cursor import CursorFilter, high_water_mark
from stagehouse.connectors.files.formats import file_format
from stagehouse.connectors.sql.described import native_spec
from stagehouse.connectors.sync_source import Committed, SyncRequest, SyncSource
from stagehouse.tasks.arrow_stream import ArrowStream
from stagehouse.tasks.connections import connection as open_connection
from stagehouse.tasks.connections import names_connections
from stagehouse.tasks.errors import TaskDefinitionError
from stagehouse.tasks.evolution import type_class
from stagehouse.tasks.full_refresh import requested as full_refresh_requested
from stagehouse.tasks.incremental import committed_record, committed_stage_table, first_row
from stagehouse.tasks.keys import physical_key
from stagehouse.tasks.reload import reload
from stagehouse.tasks.stage_metadata import declare_key
from stagehouse.tasks.stores import store_engine
from stagehouse.tasks.versioned import (
    HIGH_WATER,
    STATE,
    CommittedLoad,
    LoadRecord,
    LoadSpec,
    LoadState,
    VersionedView,
    apply_load,
)

SYNC_VERSION = "stagehouse-sync-2"
LOAD_SUFFIX = "__load"
MAX_PARTITIONS = 64  # each partition holds a connection to the source (and, copying, to the store)
MODES = ("full", "incremental", "merge")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GLOB_CHARS = set("*?[")


def output_name(table: str | None, query: str | None, name: str | None) -> str:
    """The store table's name: ``name``, else the source table's or file's base name."""
    if name is None:
        if table is None or GLOB_CHARS & set(table):
            raise TaskDefinitionError("sync of a query or a file glob needs name='table_name' for the store table")
        path = PurePath(table)
        name = path.name.split(".")[0] if file_format(path) else table.rpartition(".")[2]
    if not IDENTIFIER.match(name):
        raise TaskDefinitionError(f"'{name}' is not usable as a table name; pass name= with letters, digits and _")
    return name.lower()


def _key_list(primary_key: str | list[str] | None) -> list[str] | None:
    if primary_key is None:
        return None
    return [primary_key] if isinstance(primary_key, str) else list(primary_key)


def _source_freshness(
    connection: str,
    table: str | None,
    query: str | None,
    name: str,
    primary_key: list[str] | None,
    cursor: str | None,
    mode: str,
    deleted_column: str | None,
    partitioning: Any = None,
) -> Any:
    """What decides whether the source changed since the last run (pipedag's cache function)."""
    stage = TaskContext.get().task._stage.name
    with open_connection(connection) as conn:
        request = SyncRequest(table, query, mode, cursor, committed=functools.partial(_committed, stage, name, cursor))
        return _sync_source(connection, conn).sync_freshness(request)


def _sync_source(connection: str, conn: Any) -> SyncSource:
    """``conn``, which must be of a kind that can be synced."""
    if not isinstance(conn, SyncSource):
        raise TaskDefinitionError(f"connection '{connection}' ({type(conn).__name__}) cannot be synced")
    return conn


def _committed(stage: str, name: str, cursor: str | None) -> Committed | None:
    """The load of ``name`` the stage holds, with its cursor's mark (None before the first)."""
    previous = _committed_load(stage, name)
    if previous is None:
        return None
    mark = _committed_high_water(stage, name, previous, cursor)
    return Committed(previous.state.load, mark, _held_at(stage, name, cursor, mark))


def _held_at(stage: str, name: str, cursor: str | None, mark: Any) -> int:
    """How many rows of the committed table have ``cursor`` at ``mark`` (0 without a mark)."""
    if cursor is None or mark is None:
        return 0
    committed = committed_stage_table(stage, name)
    assert committed is not None  # the committed load's table
    with store_engine().connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(committed).where(committed.c[cursor] == mark)
        ).scalar_one()


def _explicit_freshness(cache: Callable[[], Any] | Any) -> Callable[..., Any]:
    """A cache function that returns the user's ``cache`` value (calling it if callable)."""

    def freshness(*args: Any) -> Any:
        return cache() if callable(cache) else cache

    return freshness


def _sync(
    connection: str,
    table: str | None,
    query: str | None,
    name: str,
    primary_key: list[str] | None,
    cursor: str | None,
    mode: str,
    deleted_column: str | None,
    partitioning: tuple[int, str | None] | None = None,
) -> Any:
    task = TaskContext.get().task
    stage = task._stage.name
    previous = None if mode == "full" else _committed_load(stage, name)
    refresh = previous is not None and full_refresh_requested(
        task
    )  # read it all; the committed load stays until the commit
    after = None
    if previous is not None and cursor and not refresh:
        last = _committed_high_water(stage, name, previous, cursor)
        # every read re-reads the mark: rows at it may have arrived since the last read (a record
        # saved in the same second, a file with the same whole-second time); an append's load
        # then drops the rows it already holds at the mark, a merge upserts them again
        after = None if last is None else CursorFilter(cursor, last, inclusive=True)
    kept_types = functools.partial(_committed_text, stage, name) if previous and not refresh else dict
    with open_connection(connection) as conn:
        partitions, partition_by = partitioning or (1, None)
        syncable = _sync_source(connection, conn)
        if partitions > 1 and not syncable.partitionable:  # a plain flow.run(): the runner refuses it before
            raise TaskDefinitionError(
                f"sync of '{name}': partitions= applies to SQL sources only; drop it for connection '{connection}'"
            )
        request = SyncRequest(
            table,
            query,
            mode,
            cursor,
            after,
            key=primary_key,
            kept_types=kept_types,
            partitions=partitions,
            partition_by=partition_by,
            store_url=_store_url() if partitions > 1 else None,
            committed=functools.partial(_committed, stage, name, cursor),
        )
        read = syncable.sync_read(request)
    reader, source, scan, copy, bad_rows = read.reader, read.source, read.scan, read.copy, read.bad_rows
    appends = read.appends
    primary_key, key_is_unique = read.primary_key, read.key_is_unique
    if mode == "merge" and not primary_key:
        raise TaskDefinitionError(f"merge sync of '{name}' needs primary_key= (the source table has none)")
    declare_key(name, primary_key, read.lengths)
    if mode == "full":
        # a key the source table declares is unique and never NULL already: no need to check it again
        stream = ArrowStream(
            reader,
            source,
            unique_key=None if key_is_unique else primary_key,
            scan=scan,
            bad_rows=bad_rows,
            copy=copy,
            appends=appends,
        )
        return Table(stream, name, primary_key=physical_key(primary_key))
    spec = LoadSpec(
        mode="merge" if mode == "merge" else "append",
        key=primary_key,
        cursor=cursor,
        deleted_column=deleted_column,
        on_conflict=conn.config.on_type_conflict,
        on_removed_column=conn.config.on_removed_column or ("fail" if read.fixed_columns else "keep"),
        key_is_unique=key_is_unique,
    )
    stream = ArrowStream(reader, source, scan=scan, bad_rows=bad_rows, appends=appends)
    if refresh:
        assert previous is not None  # a full refresh replaces a committed load
        view, load_row = reload(store_engine(), stage, name, previous, stream, spec)
    else:
        view, load_row = apply_load(store_engine(), stage, name, previous, stream, spec)
    out = Table(VersionedView(view), name)
    out.skipped_rows = (
        None if bad_rows is None else bad_rows.total
    )  # read by the run report (arrow_stream.skipped_rows)
    return out, Table(LoadRecord(load_row), f"{name}{LOAD_SUFFIX}")


def _store_url() -> str:
    """The store's URL without a driver name (``postgresql://…``), as libpq and ADBC take it."""
    url = store_engine().url
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)


def _committed_text(stage: str, name: str) -> dict[str, str]:
    """``{column: "string"}`` for the committed table's text columns: a REST field an earlier load
    stored as text stays text, even when a later batch's values all look like timestamps."""
    committed = committed_stage_table(stage, name)
    if committed is None:
        return {}
    return {column.name: "string" for column in committed.columns if type_class(native_spec(column.type))[0] == "text"}


def _refresh_aware(freshness: Callable[..., Any]) -> Callable[..., Any]:
    """``freshness``, plus a value of its own when this run fully refreshes the task.

    pipedag hands a task's cache key downstream as its output's identity: a full refresh under the
    usual key would leave every downstream task CACHE_VALID on the old data (a transform still
    counting rows the source deleted). A key of its own makes them rerun.
    """

    def aware(*args: Any) -> Any:
        value = freshness(*args)
        if full_refresh_requested(TaskContext.get().task):
            return {"freshness": value, "full_refresh": uuid.uuid4().hex}
        return value

    return aware


def _committed_load(stage: str, name: str) -> CommittedLoad | None:
    """The load committed with the stage's current view of ``name`` (None before the first)."""
    record = committed_record(stage, f"{name}{LOAD_SUFFIX}")
    if record is None or not record[1].get(STATE):
        return None
    table, row = record
    return CommittedLoad(LoadState.from_json(row[STATE]), table, row.get(HIGH_WATER))


def recorded_rows(engine: sa.Engine, schema: str, outputs: Any) -> int | None:
    """The rows an incremental or merge sync's committed load record counts, when ``outputs`` (a
    task's values) are such a sync's view and record; None otherwise, or for a record from
    before rows were counted. Lets the runner report the rows without counting a large table
    on every run.

    Example: ``recorded_rows(engine, "raw", result.task_values[task])`` → ``1000000``
    """
    if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2 and all(isinstance(o, Table) for o in outputs)):
        return None
    view, record = outputs
    if record.name != f"{view.name}{LOAD_SUFFIX}":
        return None
    found = first_row(engine, schema, record.name)
    state = found[1].get(STATE) if found else None
    return LoadState.from_json(state).rows if state else None


def _committed_high_water(stage: str, name: str, previous: CommittedLoad, cursor: str | None) -> Any:
    """Where the cursor resumes: the mark committed with the load, or, for a load committed
    without a cursor (one was added since), ``max(cursor)`` of the committed table."""
    if previous.has_mark:
        return previous.high_water
    if cursor is None:  # no cursor, no mark (a change check asks only with one)
        return None
    committed = committed_stage_table(stage, name)
    assert committed is not None  # the committed load's table
    return high_water_mark(store_engine(), committed, cursor)


def sync(
    connection: str,
    table: str | None = None,
    *,
    query: str | None = None,
    name: str | None = None,
    primary_key: str | list[str] | None = None,
    cursor: str | None = None,
    mode: str = "full",
    deleted_column: str | None = None,
    cache: Callable[[], Any] | Any = None,
    version: str | None = None,
    partitions: int = 1,
    partition_by: str | None = None,
):
    """Add a task to the current stage that copies ``table`` (or ``query``) from ``connection``.

    ``table`` is ``"schema.table"`` for SQL connections and a glob for file connections.
    ``primary_key`` defaults to the SQL source table's own key. ``cursor`` names the column an
    incremental or merge sync resumes from. ``version`` forces a rerun when bumped.
    ``partitions=K`` reads a SQL source (its delta, in incremental and merge modes) as K ranges
    of the integer column ``partition_by`` (default: the one-column primary key) at once
    (``connectors.sql.partitioned``, docs/scale.md).
    Returns the task's output, to pass to downstream tasks.
    """
    if (table is None) == (query is None):
        raise TaskDefinitionError("sync() takes either a table (or file glob) or query=")
    if mode not in MODES:
        raise TaskDefinitionError(f"sync mode '{mode}' is not one of: {', '.join(MODES)}")
    if mode == "incremental" and not cursor:
        raise TaskDefinitionError("an incremental sync needs cursor='column' (rows past its last value are appended)")
    if query is not None:
        query = query.strip().rstrip(";").rstrip()  # the query runs wrapped in others: "… ;) AS q" would not parse
    out = output_name(table, query, name)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= MAX_PARTITIONS:
        raise TaskDefinitionError(
            f"sync of '{out}': partitions={partitions!r} must be a whole number from 1 to {MAX_PARTITIONS} "
            "(each partition is a connection to the source)"
        )
    if partitions > 1 and table is not None and GLOB_CHARS & set(table):
        raise TaskDefinitionError(
            f"sync of '{out}' from connection '{connection}': partitions= applies to SQL sources only, and "
            f"'{table}' is a file glob; drop partitions= (a file set is read as one stream)"
        )
    if partition_by is not None and partitions == 1:
        raise TaskDefinitionError(
            f"sync of '{out}': partition_by= splits the reads of partitions=K; add partitions=K (2 or more)"
        )
    partitioning = (
        {"partitioning": (partitions, partition_by)} if partitions > 1 else {}
    )  # none: the task's inputs as before
    if deleted_column is not None and mode != "merge":
        raise TaskDefinitionError(
            f"sync of '{out}': deleted_column only applies to mode='merge' (this sync's mode is '{mode}'); drop it or "
            "use mode='merge'"
        )
    task = materialize(
        _sync,
        name=f"sync_{out}",
        version=f"{SYNC_VERSION}/{version or 0}",
        cache=_refresh_aware(_source_freshness if cache is None else _explicit_freshness(cache)),
        nout=1 if mode == "full" else 2,
    )
    output = names_connections(
        task(connection, table, query, out, _key_list(primary_key), cursor, mode, deleted_column, **partitioning),
        connection,
    )
    return output if mode == "full" else output[0]


def sync_source(task: Any) -> tuple[str, str] | None:
    """(connection, source) of a flow's ``sync`` task — source is the table, file glob or, for a
    query, the store table's name — or None for any other task (``run_pipeline`` finds a
    connection's syncs with it)."""
    if getattr(getattr(task, "_fn", None), "__wrapped__", None) is not _sync:
        return None
    arguments = task._bound_args.arguments
    return arguments["connection"], arguments["table"] or arguments["name"]
