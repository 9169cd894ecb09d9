"""Partitioned reads: a big SQL table (or its delta) read as K key ranges at once, into one stream.

``sync(conn, "public.events", partitions=4, partition_by="id")`` splits the integer key's span
(past the cursor, for an incremental or merge sync) into K ranges; each range is its own query
in the source, streamed by its own thread, and the batches meet in one Arrow stream that the
store writes through its bulk path into the sync's table — so the result is the table an
unpartitioned sync writes. A bounded queue holds at most one batch per partition: memory grows
with K batches, not with the table.

Example::

    ranges = key_ranges(conn, "public.events", None, "id", after=None, partitions=4)
    reader = concurrent_reader([functools.partial(conn.read, "public.events", after=r) for r in ranges])
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.sql.fingerprint import literal_sql
from stagehouse.connectors.sync_source import given_query


class PartitionKeyError(StagehouseError):
    """``partition_by`` names no integer column of the source, or none is given and the key is
    not one column."""

    def __init__(self, source: str, column: str | None, problem: str) -> None:
        what = (
            f"partition_by '{column}' {problem}" if column else f"partitions= needs partition_by='column' ({problem})"
        )
        super().__init__(
            f"{source}: {what}; name an integer column with partition_by=",
            source=source,
            column=column,
            problem=problem,
        )


def single_key(connection: str, table: str | None, key: list[str] | None) -> str:
    """The column a partitioned read splits by when ``partition_by`` is not given: a one-column key."""
    if key is None or len(key) != 1:
        source = f"connection '{connection}', " + (f"table '{table}'" if table else "query")
        raise PartitionKeyError(source, None, f"the key is {key}")
    return key[0]


@dataclass(frozen=True)
class CursorCap:
    """Rows whose cursor is at most ``value``: the cursor's maximum taken once before the ranges
    are read. Each range is its own query with its own view of the source; capped, a row a
    transaction moves past the maximum meanwhile is left to the next run by every range alike, so
    the high-water mark never passes a row one range missed. A None ``value`` (no rows) reads none."""

    column: str
    value: Any

    def condition(self) -> sa.ColumnElement[bool]:
        if self.value is None:
            return sa.false()
        return sa.column(self.column) <= sa.literal(self.value)


@dataclass(frozen=True)
class KeyRange:
    """Rows with ``low <= column < high`` (no bound where None; the first range also takes NULL
    keys), past ``after`` when set. Has ``condition()`` as a ``CursorFilter`` has, so a source's
    ``read(after=...)`` filters by it in the source."""

    column: str
    low: int | None
    high: int | None
    after: CursorFilter | None = None
    cap: CursorCap | None = None

    def condition(self) -> sa.ColumnElement[bool]:
        column: sa.ColumnClause[Any] = sa.column(self.column)
        parts = [f.condition() for f in (self.after, self.cap) if f is not None]
        if self.low is not None:
            parts.append(column >= sa.literal(self.low))
        if self.high is not None:
            below = column < sa.literal(self.high)
            parts.append(sa.or_(below, column.is_(None)) if self.low is None else below)
        return sa.and_(sa.true(), *parts)

    def label(self) -> str:
        """The range as a log line shows it: ``id 250001..500000``, ``id ..250000 and NULL``, ``id 750001..``."""
        low = "" if self.low is None else str(self.low)
        high = "" if self.high is None else str(self.high - 1)
        nulls = " and NULL" if self.low is None and self.high is not None else ""
        return f"{self.column} {low}..{high}{nulls}"


def _source(conn: Any, table: str | None, query: str | None) -> sa.FromClause:
    if table is not None:
        schema, name = conn.split_table(table)
        return sa.table(name, schema=schema)
    return literal_sql(given_query(query)).columns().subquery("q")


def _one_row(conn: Any, table: str | None, column: str, statement: sa.Select) -> Any:
    label = f"connection '{conn.name}', " + (f"table '{table}'" if table else "query")
    try:
        with conn.engine.connect() as connection:
            return connection.execute(statement).one()
    except sa.exc.SQLAlchemyError as exc:
        raise PartitionKeyError(label, column, f"cannot be read ({first_line(getattr(exc, 'orig', exc))})") from None


def cursor_cap(conn: Any, table: str | None, query: str | None, cursor: str, after: CursorFilter | None) -> CursorCap:
    """The cursor's maximum (past ``after``) now, which every range of a delta reads up to."""
    statement: sa.Select[Any] = sa.select(sa.func.max(sa.column(cursor))).select_from(_source(conn, table, query))
    if after is not None:
        statement = statement.where(after.condition())
    return CursorCap(cursor, _one_row(conn, table, cursor, statement)[0])


def key_ranges(
    conn: Any,
    table: str | None,
    query: str | None,
    column: str,
    after: CursorFilter | None,
    partitions: int,
    cap: CursorCap | None = None,
) -> list[KeyRange]:
    """K ranges of equal key span covering the rows (past ``after``, up to ``cap``) of ``table`` or ``query``."""
    key: sa.ColumnClause[Any] = sa.column(column)
    statement = sa.select(sa.func.min(key), sa.func.max(key)).select_from(_source(conn, table, query))
    if after is not None:
        statement = statement.where(after.condition())
    low, high = _one_row(conn, table, column, statement)
    if low is None:
        return [KeyRange(column, None, None, after, cap)]
    if not isinstance(low, int) or isinstance(low, bool):
        label = f"connection '{conn.name}', " + (f"table '{table}'" if table else "query")
        raise PartitionKeyError(label, column, f"holds {type(low).__name__} values, not integers")
    step = max(1, -(-(high - low + 1) // partitions))
    bounds = list(range(low + step, high + 1, step))[: partitions - 1]
    edges = [None, *bounds, None]
    return [KeyRange(column, edges[i], edges[i + 1], after, cap) for i in range(len(edges) - 1)]


_DONE = object()


def concurrent_reader(openers: list[Callable[[], pa.RecordBatchReader]]) -> pa.RecordBatchReader:
    """One stream of the batches of several readers, each read by its own thread (opened here,
    in order, so an error in a query raises at once; the first reader's schema is the stream's)."""
    readers: list[pa.RecordBatchReader] = []
    try:
        for opener in openers:
            readers.append(opener())
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    schema = readers[0].schema
    batches: queue.Queue = queue.Queue(maxsize=len(readers))
    stop = threading.Event()

    def pump(reader: pa.RecordBatchReader) -> None:
        try:
            for batch in reader:
                if stop.is_set():
                    break
                batches.put(
                    batch
                    if batch.schema.equals(schema)
                    else pa.Table.from_batches([batch]).cast(schema).combine_chunks().to_batches()[0]
                )
            batches.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 (the consumer raises it)
            batches.put(exc)
        finally:
            reader.close()

    threads = [
        threading.Thread(target=pump, args=(reader,), daemon=True, name=f"partition-{i}")
        for i, reader in enumerate(readers)
    ]
    for thread in threads:
        thread.start()

    def merged() -> Iterator[pa.RecordBatch]:
        running = len(threads)
        try:
            while running:
                item = batches.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                elif item.num_rows:
                    yield item
        finally:
            stop.set()
            while any(thread.is_alive() for thread in threads):  # unblock pumps waiting on a full queue
                try:
                    batches.get(timeout=0.05)
                except queue.Empty:
                    pass

    return pa.RecordBatchReader.from_batches(schema, merged())


def partitioned_read(
    conn: Any,
    table: str | None,
    query: str | None,
    after: CursorFilter | None,
    partitions: int,
    column: str,
    cursor: str | None = None,
) -> Callable[[], pa.RecordBatchReader]:
    """What a sync streams for ``partitions=K``: a factory of the K ranges' concurrent stream; a
    delta (``cursor`` given) read up to the cursor's maximum when the stream opens (``CursorCap``)."""

    def open_stream() -> pa.RecordBatchReader:
        cap = cursor_cap(conn, table, query, cursor, after) if cursor else None
        ranges = key_ranges(conn, table, query, column, after, partitions, cap)
        return concurrent_reader([functools.partial(conn.read, table, query=query, after=r) for r in ranges])

    return open_stream
