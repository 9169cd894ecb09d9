"""Write an Arrow stream into a new table of the table store with the store's bulk path.

One writer per store dialect, chosen from data (``WRITERS``), in the spirit of pipedag's dialect
registry: DuckDB scans the Arrow stream itself (``CREATE TABLE AS SELECT * FROM stream``), or,
for a SQL source it has a scanner for, attaches the source and copies it in place; PostgreSQL
receives the stream through ADBC's binary COPY, or, from a PostgreSQL source, the source's own
binary COPY as is (``connectors.sql.pg_copy``). Memory stays bounded by one batch plus what the
database buffers, whatever the table's size.

Example::

    write_stream(store.engine, "raw__tmp", "flights", lambda: reader)
    write_stream(store.engine, "raw__tmp", "orders", lambda: reader, InPlace(copy=shop.binary_copy("public.orders")))
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.duckdb_scan import DuckDBScan
from stagehouse.connectors.sql.declared import ingest_typed
from stagehouse.connectors.sql.exact_numerics import store_landing
from stagehouse.connectors.sql.native import adbc_bulk_connection, adbc_uri
from stagehouse.connectors.sql.pg_copy import PostgresCopy
from stagehouse.tasks.errors import StoreWriteError


@dataclass(frozen=True)
class InPlace:
    """Ways a store can take a source's rows without the Arrow stream: a DuckDB store scans a
    source it can attach (``scan``), a PostgreSQL store takes a PostgreSQL source's binary COPY
    (``copy``). A writer that can use neither reads the stream."""

    scan: DuckDBScan | None = None
    copy: PostgresCopy | None = None


OpenReader = Callable[[], pa.RecordBatchReader]
Writer = Callable[[sa.Engine, str, str, OpenReader, InPlace], int | None]  # returns the rows, if it counted them
NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map, pa.types.is_union)
BULK_SETTINGS = {"memory_limit": "64MB", "preserve_insertion_order": "false"}


def _checked(table: str, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    for field in reader.schema:
        if pa.types.is_null(field.type):
            raise StoreWriteError(table, "column has no type (all values NULL in a schemaless source); cast it in the query", column=field.name)
    return reader


@contextmanager
def bounded_memory(engine: sa.Engine) -> Iterator[None]:
    """On a DuckDB store, settings for bulk statements (a copy, a key check), restored after.

    A copy needs no row order and no more memory than a few row groups, and a key check spills
    its hash table: left at its defaults DuckDB buffers up to 80 % of the machine's RAM (a sync of
    10,000,000 rows from PostgreSQL peaked at 1.1 GB); with these settings the same sync stays
    near 170 MB above the process and runs as fast. Other stores are left alone.

    Both settings are global to the database, so they are set from a connection of their own,
    outside any transaction: DuckDB refuses a memory limit below what it holds already (right
    after a load cleaned up a big table), and a refusal inside the load's transaction would
    abort it — here the store just keeps its own limit.
    """
    if engine.dialect.name != "duckdb":
        yield
        return
    with engine.connect() as settings:
        duck = settings.connection.driver_connection
        previous = {}
        for name, value in BULK_SETTINGS.items():
            current = duck.execute(f"SELECT current_setting('{name}')").fetchone()[0]
            try:
                duck.execute(f"SET {name} = '{value}'")
            except duckdb.OutOfMemoryException:
                continue
            previous[name] = current
        try:
            yield
        finally:
            for name, value in previous.items():
                duck.execute(f"SET {name} = '{value}'")


def _scan_into_duckdb(engine: sa.Engine, schema: str, table: str, scan: DuckDBScan) -> None:
    """The source attached to the store's own DuckDB and copied by one CREATE TABLE AS."""
    quote = engine.dialect.identifier_preparer.quote
    alias = f"stagehouse_source_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        duck = conn.connection.driver_connection
        scan.attach(duck, alias)
        try:
            with bounded_memory(engine):
                conn.exec_driver_sql(f"CREATE TABLE {quote(schema)}.{quote(table)} AS {scan.relation(alias)}")
                conn.commit()
        except sa.exc.DBAPIError as exc:
            conn.rollback()  # else the DETACH below fails in the aborted transaction and hides the source's error
            raise scan.on_error(exc.orig or exc) from exc
        finally:
            duck.execute(f"DETACH {alias}")


def _write_duckdb(engine: sa.Engine, schema: str, table: str, open_reader: OpenReader, source: InPlace) -> None:
    if source.scan is not None and not source.scan.use_catalog:
        _scan_into_duckdb(engine, schema, table, source.scan)
        return
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        _copy_into_duckdb(conn, f"TABLE {quote(schema)}.{quote(table)}", table, open_reader)
        conn.commit()


def write_temporary_duckdb(conn: sa.Connection, table: str, open_reader: OpenReader) -> None:
    """Create the TEMP table ``table`` of DuckDB connection ``conn`` from the stream, inside the
    connection's open transaction: a helper that only this transaction reads never reaches the
    database file or its WAL, which makes a small merge into a large table faster."""
    _copy_into_duckdb(conn, f"TEMP TABLE {conn.dialect.identifier_preparer.quote(table)}", table, open_reader)


def _copy_into_duckdb(conn: sa.Connection, target: str, table: str, open_reader: OpenReader) -> None:
    """``CREATE <target> AS`` the rows of the stream, which DuckDB scans as a registered view."""
    reader = _checked(table, open_reader())
    duck = conn.connection.driver_connection
    view = f"stagehouse_stream_{id(reader)}"
    select, refusal = store_landing(view, reader.schema)  # a wide PostgreSQL numeric: DECIMAL, or refused
    duck.register(view, reader)
    try:
        with bounded_memory(conn.engine):
            conn.exec_driver_sql(f"CREATE {target} AS {select}")
    except sa.exc.DBAPIError as exc:
        if (refused := refusal(exc.orig or exc)) is not None:
            raise refused from exc
        raise
    finally:
        duck.unregister(view)


def _postgres_checked(table: str, schema: pa.Schema) -> None:
    for field in schema:
        if any(test(field.type) for test in NESTED):
            raise StoreWriteError(
                table,
                f"PostgreSQL store cannot take nested type {field.type}; cast it to text/JSON in the source query",
                column=field.name,
            )


def _write_postgres(engine: sa.Engine, schema: str, table: str, open_reader: OpenReader, source: InPlace) -> int | None:
    """From a PostgreSQL source whose columns all have built-in types: the table created with the
    source's own column types, its binary COPY fed in as is. Otherwise ADBC creates the table from
    the Arrow types; the columns that keep more (``numeric(15,2)``, ``varchar(40)``) are altered
    while the table is still empty, in the same transaction, and a wide numeric that arrived as
    text (``connectors.sql.exact_numerics``) takes its declared type once the rows are in."""
    if source.copy is not None and (columns := source.copy.columns()) is not None:
        return _copy_into_postgres(engine, schema, table, source.copy, columns)
    reader = _checked(table, open_reader())
    _postgres_checked(table, reader.schema)
    with adbc_bulk_connection(engine) as conn:
        with conn.cursor() as cur:
            ingest_typed(cur, engine.dialect.identifier_preparer.quote, schema, table, reader)
        conn.commit()
    return None


def _copy_into_postgres(engine: sa.Engine, schema: str, table: str, copy: PostgresCopy, columns: list) -> int:
    """Create ``schema.table`` with the source's column types and copy the rows in, in one
    transaction of a psycopg2 connection of its own (whatever driver the store's URL names)."""
    import psycopg2

    quote = engine.dialect.identifier_preparer.quote
    target = f"{quote(schema)}.{quote(table)}"
    definition = ", ".join(f"{quote(column.name)} {column.type}" for column in columns)
    conn = psycopg2.connect(adbc_uri(engine))
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {target} ({definition})")
        rows = copy.copy_into(conn, target)
        conn.commit()
        return rows
    finally:
        conn.close()  # after an error, without the commit: nothing of it stays


WRITERS: dict[str, Writer] = {"duckdb": _write_duckdb, "postgresql": _write_postgres}


def write_stream(engine: sa.Engine, schema: str, table: str, open_reader: OpenReader, source: InPlace = InPlace()) -> int | None:
    """Create ``schema.table`` from the stream ``open_reader()`` opens, or from ``source`` in place;
    returns the rows when the store counted them in place (the stream counts its own)."""
    dialect = engine.dialect.name
    if dialect not in WRITERS:
        raise StoreWriteError(table, f"no bulk writer for a {dialect} store (have: {', '.join(WRITERS)})")
    return WRITERS[dialect](engine, schema, table, open_reader, source)
