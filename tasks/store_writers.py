"""Write an Arrow stream into a new table of the table store with the store's bulk path.

One writer per store dialect, chosen from data (``WRITERS``), in the spirit of pipedag's dialect
registry: DuckDB scans the Arrow stream itself (``CREATE TABLE AS SELECT * FROM stream``);
PostgreSQL receives it through ADBC's binary COPY. Memory stays bounded by one batch plus what
the database buffers, whatever the table's size.

Example::

    rows = write_stream(store.engine, "raw__tmp", "flights", reader)
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import sqlalchemy as sa

from tasks.errors import StoreWriteError

Writer = Callable[[sa.Engine, str, str, pa.RecordBatchReader], None]
NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map, pa.types.is_union)


def _write_duckdb(engine: sa.Engine, schema: str, table: str, reader: pa.RecordBatchReader) -> None:
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        duck = conn.connection.driver_connection
        view = f"stagehouse_stream_{id(reader)}"
        duck.register(view, reader)
        try:
            conn.exec_driver_sql(f"CREATE TABLE {quote(schema)}.{quote(table)} AS SELECT * FROM {view}")
            conn.commit()
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


def _write_postgres(engine: sa.Engine, schema: str, table: str, reader: pa.RecordBatchReader) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    _postgres_checked(table, reader.schema)
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc.connect(uri) as conn:
        with conn.cursor() as cur:
            cur.adbc_ingest(table, reader, mode="create", db_schema_name=schema)
        conn.commit()


WRITERS: dict[str, Writer] = {"duckdb": _write_duckdb, "postgresql": _write_postgres}


def write_stream(engine: sa.Engine, schema: str, table: str, reader: pa.RecordBatchReader) -> None:
    """Create ``schema.table`` from ``reader``; errors name the table."""
    dialect = engine.dialect.name
    if dialect not in WRITERS:
        raise StoreWriteError(table, f"no bulk writer for a {dialect} store (have: {', '.join(WRITERS)})")
    for field in reader.schema:
        if pa.types.is_null(field.type):
            raise StoreWriteError(table, "column has no type (all values NULL in a schemaless source); cast it in the query", column=field.name)
    WRITERS[dialect](engine, schema, table, reader)
