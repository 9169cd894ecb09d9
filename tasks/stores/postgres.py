"""The PostgreSQL table store: pipedag's, keeping descriptions, and its bulk path.

A schema swap moves the old schema's comments away with it and tables pipedag copies for cache-
valid tasks are new tables; ``KeepsDescriptions`` re-applies what users described. It registers
itself for the ``postgresql`` dialect: ``SQLTableStore`` in pipedag.yaml creates it once ``tasks``
is imported; its pandas and polars hooks read time-zone-aware columns as UTC
(``tasks.zoned_reads``). ``PostgresStore`` writes streams through ADBC's binary COPY, or, from a PostgreSQL
source, feeds the source's own binary COPY in as is (``connectors.sql.pg_copy``).

Example::

    store = SQLTableStore("postgresql://postgres@127.0.0.1:5432/stagehouse_pg")   # a KeptDescriptionsPostgresTableStore
"""

from __future__ import annotations

import warnings

import pandas as pd
import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from pydiverse.pipedag.backend.table.sql.dialects import postgres as postgres_hooks
from pydiverse.pipedag.backend.table.sql.dialects.postgres import PostgresTableStore

from stagehouse.connectors.sql.declared import create_typed, declare_wide, ingest_typed, ingestible_schema
from stagehouse.connectors.sql.dialects.postgres import adbc_uri
from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.connectors.sync_source import BinaryCopy, RangeAppends
from stagehouse.tasks.errors import StoreWriteError
from stagehouse.tasks.stage_metadata import KeepsDescriptions
from stagehouse.tasks.stores.base import InPlace, OpenReader, TableStore, checked_reader, checked_schema
from stagehouse.tasks.zoned_reads import ZonedPandasRead, ZonedPolarsRead

NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map, pa.types.is_union)

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Already registered a SQLTableStore for dialect postgresql")

    class KeptDescriptionsPostgresTableStore(KeepsDescriptions, PostgresTableStore):
        """pipedag's PostgreSQL store; after a stage commit its descriptions are comments again."""

        _dialect_name = "postgresql"


@KeptDescriptionsPostgresTableStore.register_table(pd)
class PostgresPandasHook(ZonedPandasRead, postgres_hooks.PandasTableHook):
    """pipedag's PostgreSQL pandas hook, time-zone-aware columns as UTC."""


@KeptDescriptionsPostgresTableStore.register_table(pl)
class PostgresPolarsHook(ZonedPolarsRead, postgres_hooks.PolarsTableHook):
    """pipedag's PostgreSQL polars hook, time-zone-aware columns as UTC."""


class PostgresStore(TableStore):
    """Streams land by ADBC's binary COPY, or a PostgreSQL source's own COPY."""

    dialect_name = "postgresql"

    def write_stream(
        self, engine: sa.Engine, schema: str, table: str, open_reader: OpenReader, source: InPlace = InPlace()
    ) -> int | None:
        """From a PostgreSQL source whose columns all have built-in types: the table created with the
        source's own column types, its binary COPY fed in as is. Otherwise ADBC creates the table from
        the Arrow types; the columns that keep more (``numeric(15,2)``, ``varchar(40)``) are altered
        while the table is still empty, in the same transaction, and a wide numeric that arrived as
        text (``connectors.sql.exact_numerics``) takes its declared type once the rows are in.
        A partitioned read on a cluster (``source.appends``) creates the table the same way,
        commits it, and has its ranges' jobs append to it."""
        if source.copy is not None and (columns := source.copy.columns()) is not None:
            return _copy_into(engine, schema, table, source.copy, columns)
        if source.appends is not None:
            return self._append_ranges(engine, schema, table, source.appends)
        reader = checked_reader(table, open_reader())
        _refuse_nested(table, reader.schema)
        with self.dialect.bulk_connection(engine) as conn:
            with conn.cursor() as cur:
                ingest_typed(cur, engine.dialect.identifier_preparer.quote, schema, table, reader)
            conn.commit()
        return None

    def _append_ranges(self, engine: sa.Engine, schema: str, table: str, appends: RangeAppends) -> int:
        arrow = ingestible_schema(appends.schema())  # the jobs cast their batches to it
        checked_schema(table, arrow)
        _refuse_nested(table, arrow)
        quote = engine.dialect.identifier_preparer.quote
        with self.dialect.bulk_connection(engine) as conn:
            with conn.cursor() as cur:
                create_typed(cur, quote, schema, table, arrow)
            conn.commit()  # the jobs' connections append to it (in the stage's uncommitted schema)
        rows = appends.append_into(schema, table, arrow)
        with self.dialect.bulk_connection(engine) as conn:
            with conn.cursor() as cur:
                declare_wide(cur, quote, schema, table, arrow)
            conn.commit()
        return rows


def _refuse_nested(table: str, schema: pa.Schema) -> None:
    for field in schema:
        if any(test(field.type) for test in NESTED):
            raise StoreWriteError(
                table,
                f"PostgreSQL store cannot take nested type {field.type}; cast it to text/JSON in the source query",
                column=field.name,
            )


def _copy_into(engine: sa.Engine, schema: str, table: str, copy: BinaryCopy, columns: list) -> int:
    """Create ``schema.table`` with the source's column types and copy the rows in, in one
    transaction of a psycopg2 connection of its own (whatever driver the store's URL names); a
    numeric NaN or infinity among them is refused (``PostgresCopy.refuse_not_finite``)."""
    import psycopg2

    quote = engine.dialect.identifier_preparer.quote
    target = quoted_name(engine, schema, table)
    definition = ", ".join(f"{quote(column.name)} {column.type}" for column in columns)
    conn = psycopg2.connect(adbc_uri(engine))
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {target} ({definition})")
        rows = copy.copy_into(conn, target)
        copy.refuse_not_finite(conn, target)
        conn.commit()
        return rows
    finally:
        conn.close()  # after an error, without the commit: nothing of it stays
