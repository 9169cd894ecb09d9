"""``SyncSource``: what a ``sync`` task asks of a connector kind, whichever kind it is.

Every kind that can be synced implements the two methods: ``sync_read`` says how to read the
rows (as Arrow batches, past an optional cursor, with the source's primary key and, where the
store can copy in place, a scan or a binary COPY), and ``sync_freshness`` gives the cache key
that tells whether the source changed since the last run. ``tasks.sync`` calls only these, so a
new kind is synced without an ``if`` for it. The stage's own state (the committed load, its
text columns) is pipedag's: the task hands it over as callables in the ``SyncRequest``.

Example::

    shop = connect("shop")
    read = shop.sync_read(SyncRequest("public.orders", mode="merge", cursor="updated_at"))
    read.primary_key                 # ['id'], the source table's own key
    shop.sync_freshness(SyncRequest("public.orders"))   # {'rows': 1000, 'content': '9f2c…'}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pyarrow as pa

from stagehouse.connectors.cursor import CursorFilter

if TYPE_CHECKING:
    from stagehouse.connectors.duckdb_scan import DuckDBScan
    from stagehouse.connectors.files.csv_checks import BadRows
    from stagehouse.connectors.sql.pg_copy import CopyColumn


class BinaryCopy(Protocol):
    """A PostgreSQL source's rows as binary COPY into a PostgreSQL store (``PostgresCopy``, or
    ``PartitionedCopy`` for key ranges at once)."""

    def columns(self) -> list[CopyColumn] | None: ...

    def copy_into(self, target: Any, into: str) -> int: ...

    def refuse_not_finite(self, target: Any, into: str) -> None: ...


class RangeAppends(Protocol):
    """A partitioned read's key ranges appended into the store by jobs of their own (on a cluster's
    workers: ``PartitionedAppend``), into a table the store writer creates from ``schema()``."""

    def schema(self) -> pa.Schema: ...

    def append_into(self, schema_name: str, table: str, schema: pa.Schema) -> int: ...


@dataclass(frozen=True)
class Committed:
    """What the stage holds of a sync from its last run: the load's number, its cursor mark and
    how many of its rows sit at the mark (what an inclusive API filter answers with again)."""

    load: int
    mark: Any  # the cursor's high-water mark; None when no row had one
    at_mark: int = 0


def given_query(query: str | None) -> str:
    """The query of a read that names no table (a read takes a table or a query)."""
    if query is None:
        raise ValueError("a read takes a table or a query; it got neither")
    return query


def _none() -> None:
    return None


def _no_types() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class SyncRequest:
    """One sync's question to its source: which object, in which mode, past which mark.

    ``committed`` and ``kept_types`` are asked only by the kinds that need them (a REST API
    without a cheap change check, a REST read that keeps earlier text columns text).
    """

    obj: str | None  # a table, a file glob or an API object; None for a query
    query: str | None = None
    mode: str = "full"  # full, incremental or merge
    cursor: str | None = None
    after: CursorFilter | None = None  # read only rows past the committed mark
    key: list[str] | None = None  # the sync's primary_key=; None asks the source's own
    committed: Callable[[], Committed | None] = field(default=_none)
    kept_types: Callable[[], Mapping[str, str]] = field(default=_no_types)
    partitions: int = 1  # read as this many key ranges at once (SQL sources: ``partitioned`` in the read)
    partition_by: str | None = None  # the integer column the ranges split; None: the one-column key
    store_url: str | None = None  # the store a partitioned binary COPY writes to over connections of its own

    def object_name(self) -> str:
        """``obj``, for a source that reads named objects only (a file glob, an API object)."""
        if self.obj is None:
            raise ValueError("this connection reads a named object (a file glob, an API object), not query=")
        return self.obj


@dataclass
class SyncRead:
    """How a sync gets its rows, and what the source says about them.

    ``reader`` is the stream or a function that opens it when the store starts writing;
    ``scan`` lets a DuckDB store copy in place, ``copy`` lets a PostgreSQL store take a
    binary COPY as is and ``appends`` lets it have a partitioned read's ranges appended by jobs
    on a cluster's workers (each None when the kind or the run has no such path).
    """

    reader: pa.RecordBatchReader | Callable[[], pa.RecordBatchReader]
    source: str  # names the connection and object in errors: "connection 'shop', table 'public.orders'"
    primary_key: list[str] | None = None
    key_is_unique: bool = False  # the source enforces the key: no need to check it again
    lengths: dict[str, int] | None = None  # declared varchar(n) lengths
    scan: DuckDBScan | None = None
    copy: BinaryCopy | None = None
    appends: RangeAppends | None = None
    bad_rows: BadRows | None = None  # rows a lenient CSV read skipped, filled as the stream ends
    # the source declares its columns (a SQL table, a CSV header): a committed column missing from
    # the read was dropped or renamed there; False for records that simply lack a field (JSON)
    fixed_columns: bool = True


class SyncSource(ABC):
    """The interface of a connector kind that ``sync`` can copy from.

    An ABC rather than a Protocol: kinds already inherit ``Connection``, and a kind that forgets
    a method fails when ``connect`` builds it, not halfway through a run.
    """

    name: str
    partitionable: ClassVar[bool] = False  # reads ``request.partitions`` key ranges (SQL sources)

    @abstractmethod
    def sync_read(self, request: SyncRequest) -> SyncRead:
        """How to read ``request.obj`` (or ``request.query``), only past ``request.after`` if given."""

    @abstractmethod
    def sync_freshness(self, request: SyncRequest) -> Any:
        """A JSON-able value that changes when what the sync would read changes (pipedag's cache key)."""
