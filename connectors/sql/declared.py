"""What a source column declares that its Arrow type cannot carry: a ``varchar(n)``'s length.

Arrow keeps a decimal's precision and scale, but a string has no length; DuckDB's scanners read
``varchar(40)`` as plain VARCHAR. The source's catalog knows it, so a table read tags each such
field with ``max_length`` metadata, and a store that has lengths (PostgreSQL) declares the
column ``varchar(40)`` instead of ``text``. Only backends that enforce the length are asked:
SQLite declares lengths it never checks, so a value may be longer than its column says.

Example::

    lengths = declared_lengths(engine, "public", "customers")   # {'name': 40}
    reader = with_lengths(reader, lengths)    # field 'name' carries {b'max_length': b'40'}
    max_length(reader.schema.field("name"))  # 40
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.arrow_metadata import with_schema
from stagehouse.connectors.sql.described import columns_of
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.exact_numerics import declared_numerics, source_of
from stagehouse.connectors.sql.not_finite import Named, refuse_not_finite

MAX_LENGTH = b"max_length"
PG_MAX_PRECISION, PG_MAX_VARCHAR = 1000, 10_485_760
VARCHAR = re.compile(r"^(character varying|varchar|nvarchar|national character varying)\s*\((\d+)\)$", re.IGNORECASE)


def declared_lengths(engine: sa.Engine, schema: str | None, name: str) -> dict[str, int]:
    """Column -> declared length of the ``varchar(n)`` columns of ``schema.name``; one catalog
    query, empty for a backend that does not enforce lengths."""
    if not dialect_of(engine).capabilities.enforces_lengths:
        return {}
    lengths = {}
    for column, kind in columns_of(engine, schema, name).items():
        if found := VARCHAR.match(kind.strip()):
            lengths[column] = int(found.group(2))
    return lengths


def with_lengths(reader: pa.RecordBatchReader, lengths: dict[str, int]) -> pa.RecordBatchReader:
    """The same stream, its string fields named in ``lengths`` tagged with ``max_length``."""
    if not any(name in lengths for name in reader.schema.names):
        return reader
    schema = pa.schema(
        [
            field.with_metadata({**(field.metadata or {}), MAX_LENGTH: str(lengths[field.name]).encode()})
            if field.name in lengths and (pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
            else field
            for field in reader.schema
        ],
        metadata=reader.schema.metadata,
    )
    return with_schema(reader, schema)


def max_length(field: pa.Field) -> int | None:
    """The source's declared length of ``field`` (None: not declared)."""
    value = (field.metadata or {}).get(MAX_LENGTH)
    return int(value) if value else None


def postgres_precise_types(schema: pa.Schema) -> dict[str, str]:
    """Columns whose PostgreSQL type says more than ADBC gives their Arrow type: a decimal's
    precision and scale (ADBC creates a bare ``numeric``: ``4192.40`` reads back as ``4192.4``)
    and a source's declared ``varchar(n)`` length (ADBC creates ``text``)."""
    types = {}
    for field in schema:
        kind = field.type
        if pa.types.is_decimal(kind) and kind.precision <= PG_MAX_PRECISION and 0 <= kind.scale <= kind.precision:
            types[field.name] = f"numeric({kind.precision},{kind.scale})"
        elif (length := max_length(field)) is not None and 0 < length <= PG_MAX_VARCHAR:
            types[field.name] = f"varchar({length})"
    return types


UNSIGNED_64 = pa.decimal128(20, 0)  # numeric(20,0): every unsigned 64-bit value, where bigint stops at 2**63 - 1


def ingestible_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with each unsigned 64-bit column as ``decimal128(20, 0)``: ADBC's COPY writes
    ``uint64`` into a ``bigint``, so 18446744073709551615 (MariaDB's ``bigint unsigned``) would
    land as -1."""
    fields = [f.with_type(UNSIGNED_64) if pa.types.is_uint64(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def ingestible(data: pa.RecordBatchReader | pa.Table) -> pa.RecordBatchReader | pa.Table:
    """``data`` cast to ``ingestible_schema`` (as is when nothing changes), batch by batch."""
    target = ingestible_schema(data.schema)
    if target.equals(data.schema):
        return data
    if isinstance(data, pa.Table):
        return data.cast(target)
    return pa.RecordBatchReader.from_batches(target, (batch.cast(target) for batch in data))


def ingest_typed(
    cur, quote: Callable[[str], str], schema: str | None, table: str, reader: pa.RecordBatchReader | pa.Table
) -> None:
    """Create ``schema.table`` on PostgreSQL from Arrow data by an ADBC cursor, with the types the
    source declared: the columns that keep more (``numeric(15,2)``, ``varchar(40)``) are altered
    while the table is still empty; a wide numeric that arrived as text
    (``connectors.sql.exact_numerics``; ADBC cannot COPY text into numeric) takes its declared
    type once the rows are in. All inside the cursor's transaction."""
    reader = ingestible(reader)
    create_typed(cur, quote, schema, table, reader.schema)
    cur.adbc_ingest(table, reader, mode="append", db_schema_name=schema)
    declare_wide(cur, quote, schema, table, reader.schema)


def create_typed(cur, quote: Callable[[str], str], schema: str | None, table: str, arrow: pa.Schema) -> None:
    """Create the empty ``schema.table`` for Arrow data of ``arrow``'s schema by an ADBC cursor,
    its precise columns (``numeric(15,2)``, ``varchar(40)``) altered to the source's types; rows
    are appended next (by one stream, or by a partitioned sync's jobs), then ``declare_wide``."""
    cur.adbc_ingest(table, arrow.empty_table(), mode="create", db_schema_name=schema)
    if precise := postgres_precise_types(arrow):
        changes = ", ".join(f"ALTER COLUMN {quote(name)} TYPE {kind}" for name, kind in precise.items())
        cur.execute(f"ALTER TABLE {_target(quote, schema, table)} {changes}")


def declare_wide(cur, quote: Callable[[str], str], schema: str | None, table: str, arrow: pa.Schema) -> None:
    """Once the rows are in: the wide numerics that arrived as text take their declared type; a
    NaN or ±Infinity among them is refused first (``connectors.sql.not_finite``)."""
    target = _target(quote, schema, table)
    if wide := {name: kind.declared for name, kind in declared_numerics(arrow).items()}:
        refuse_not_finite(cur, target, list(wide), Named(*source_of(arrow)))
        changes = ", ".join(
            f"ALTER COLUMN {quote(name)} TYPE {kind} USING {quote(name)}::{kind}" for name, kind in wide.items()
        )
        cur.execute(f"ALTER TABLE {target} {changes}")


def _target(quote: Callable[[str], str], schema: str | None, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)
