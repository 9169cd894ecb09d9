"""What differs between table stores when a task writes to one, behind one interface.

``TableStore`` is the adapter of one store dialect for the tasks: how an Arrow stream (or a
source read in place) lands in a new table, whether it can land as a TEMP table inside an open
transaction, and the settings for bulk statements. Its SQL-level facts come from the
connectors' adapter of the same dialect (``self.dialect``, ``connectors.sql.dialects``). A store
dialect without an adapter here gets this base, which refuses bulk writes with a message.

Example::

    store_of(engine).write_stream(engine, "raw__tmp", "orders", lambda: reader)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.duckdb_scan import DuckDBScan
from stagehouse.connectors.sql.dialects import Capabilities, SqlDialect
from stagehouse.connectors.sync_source import BinaryCopy, RangeAppends
from stagehouse.tasks.errors import StoreWriteError

OpenReader = Callable[[], pa.RecordBatchReader]


@dataclass(frozen=True)
class InPlace:
    """Ways a store can take a source's rows without the Arrow stream: a DuckDB store scans a
    source it can attach (``scan``), a PostgreSQL store takes a PostgreSQL source's binary COPY
    (``copy``) or a partitioned read's ranges appended by jobs of their own (``appends``). A writer
    that can use none of them reads the stream."""

    scan: DuckDBScan | None = None
    copy: BinaryCopy | None = None
    appends: RangeAppends | None = None


class TableStore:
    """The portable table store: no bulk path. Subclasses register by ``dialect_name``."""

    dialect_name: ClassVar[str] = ""
    registered: ClassVar[dict[str, type[TableStore]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.dialect_name:
            TableStore.registered[cls.dialect_name] = cls

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect

    @property
    def capabilities(self) -> Capabilities:
        return self.dialect.capabilities

    def write_stream(
        self, engine: sa.Engine, schema: str, table: str, open_reader: OpenReader, source: InPlace = InPlace()
    ) -> int | None:
        """Create ``schema.table`` from the stream ``open_reader()`` opens, or from ``source`` in
        place; returns the rows when the store counted them in place (the stream counts its own)."""
        raise StoreWriteError(
            table, f"no bulk writer for a {self.dialect.name} store (have: {', '.join(TableStore.registered)})"
        )

    def land_temporary(self, conn: sa.Connection, table: str, open_reader: OpenReader) -> None:
        """Create the TEMP table ``table`` from the stream inside ``conn``'s open transaction
        (where ``capabilities.one_transaction_load``)."""
        raise StoreWriteError(table, f"a {self.dialect.name} store cannot land a stream inside a transaction")

    def temporary_table(self, conn: sa.Connection, name: str) -> sa.Table:
        """The TEMP table ``name`` of ``conn`` with its columns in the store's types."""
        raise StoreWriteError(name, f"a {self.dialect.name} store has no temporary tables for loads")

    @contextmanager
    def bounded_memory(self, engine: sa.Engine) -> Iterator[None]:
        """Settings for bulk statements (a copy, a key check), restored after; none by default."""
        yield


def checked_reader(table: str, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """``reader``, unless a column has no type (all NULL in a schemaless source): StoreWriteError."""
    checked_schema(table, reader.schema)
    return reader


def checked_schema(table: str, schema: pa.Schema) -> None:
    """StoreWriteError for a column without a type (all values NULL in a schemaless source)."""
    for field in schema:
        if pa.types.is_null(field.type):
            raise StoreWriteError(
                table,
                "column has no type (all values NULL in a schemaless source); cast it in the query",
                column=field.name,
            )
