"""Partitioned syncs into a PostgreSQL store: K ranges copied at once, each by a job of its own.

An unpartitioned full sync PostgreSQL -> PostgreSQL store copies one binary COPY as is
(``connectors.sql.pg_copy``). Split, each key range (``connectors.sql.partitioned.key_ranges``)
is a job (``connectors.sql.partition_jobs``) with connections of its own, copying into the one
table the store writer created — by binary COPY from a PostgreSQL source (``PartitionedCopy``,
a full sync), or as Arrow batches appended through the store's bulk path (``PartitionedAppend``:
another source, or a delta, on the ``cluster`` instance; elsewhere those ranges meet in one
stream, ``partitioned.partitioned_read``). The table sits in the stage's not-yet-committed
schema, so a failed partition leaves nothing readers see.

Example (what ``SqlConnection.sync_read`` hands the store writer as its ``copy``)::

    PartitionedCopy(conn, reopen, "public.events", None, "id", partitions=4, store_url="postgresql://…")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.sql.partition_jobs import AppendRange, CopyRange, run_jobs
from stagehouse.connectors.sql.partitioned import CursorCap, cursor_cap, key_ranges


@dataclass
class RangeSplit:
    """A read of ``table`` (or ``query``) split by ``column`` into ``partitions`` key ranges, whose
    jobs reopen the source (``reopen``, where they run: a cluster's worker) and write to the store
    at ``store_url``."""

    conn: Any
    reopen: Callable[[], Any]
    table: str | None
    query: str | None
    column: str
    partitions: int
    store_url: str

    @property
    def source(self) -> str:
        return f"connection '{self.conn.name}', " + (f"table '{self.table}'" if self.table else "query")


@dataclass
class PartitionedCopy(RangeSplit):
    """Quacks as ``PostgresCopy`` for the store writer: ``columns()`` and ``copy_into(conn, table)``."""

    def __post_init__(self) -> None:
        self.whole = self.conn.binary_copy(self.table, query=self.query)

    def columns(self):
        return self.whole.columns()

    def refuse_not_finite(self, target, into: str) -> None:
        self.whole.refuse_not_finite(target, into)

    def copy_into(self, target, into: str) -> int:
        """Commit the created table (``target``'s transaction), then copy the ranges at once, each
        committing its own; the rows copied, or the first failed partition's ``PartitionError``."""
        target.commit()
        ranges = key_ranges(self.conn, self.table, self.query, self.column, None, self.partitions)
        jobs = [
            CopyRange(self.reopen, self.source, self.table, self.query, part, i, len(ranges), self.store_url, into)
            for i, part in enumerate(ranges)
        ]
        return sum(done.rows for done in run_jobs(jobs))


@dataclass
class PartitionedAppend(RangeSplit):
    """The ranges of a read (past ``after``, a delta up to the cursor's maximum) appended as Arrow
    batches by jobs, into a table the store writer created from ``schema()``."""

    after: CursorFilter | None = None
    cursor: str | None = None

    def schema(self) -> pa.Schema:
        """The read's Arrow schema, from a range that holds no row (no data travels)."""
        empty = self.conn.read(self.table, query=self.query, after=CursorCap(self.column, None))
        try:
            return empty.schema
        finally:
            empty.close()

    def append_into(self, schema_name: str, table: str, schema: pa.Schema) -> int:
        """Append the ranges at once into ``schema_name.table`` (created from ``schema``), each job
        committing its own; the rows appended, or the first failed partition's ``PartitionError``."""
        cap = cursor_cap(self.conn, self.table, self.query, self.cursor, self.after) if self.cursor else None
        ranges = key_ranges(self.conn, self.table, self.query, self.column, self.after, self.partitions, cap)
        jobs = [
            AppendRange(
                self.reopen,
                self.source,
                self.table,
                self.query,
                part,
                i,
                len(ranges),
                self.store_url,
                schema_name,
                table,
                schema,
            )
            for i, part in enumerate(ranges)
        ]
        return sum(done.rows for done in run_jobs(jobs))
