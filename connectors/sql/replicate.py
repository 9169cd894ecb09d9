"""Copy a table or query of one SQL connection into another database, atomically.

The rows travel as a stream of Arrow batches into a side table on the target by the target's
bulk path (DuckDB scans the Arrow stream; PostgreSQL takes it by ADBC's binary COPY). Then one
transaction on the target swaps the side table in (full copy) or merges it by primary key
(incremental), so a reader of the target sees the old complete table or the new one, never a
half-copied one. An incremental copy reads only the rows whose ``incremental_field`` is past the
target's own maximum, so the high-water mark is the data itself and commits with it.

Example::

    report = replicate(connect("warehouse"), connect("bi"), "analytics", table="mart.orders",
                       incremental_field="updated_at", pk="id")
    report.rows, report.mode          # 1250, 'incremental'
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.cursor import CursorFilter, high_water_mark
from stagehouse.connectors.duckdb_scan import stream
from stagehouse.connectors.errors import SourceError, WarehouseError, first_line
from stagehouse.connectors.sql.described import described_table
from stagehouse.connectors.sql.dialects import bulk_dialects, dialect_named, dialect_of
from stagehouse.connectors.sql.driver import driver_connection
from stagehouse.connectors.sql.identifiers import checked, quoted_name
from stagehouse.connectors.sql.source import SqlConnection
from stagehouse.connectors.sync_source import given_query

SIDE_PREFIX = "_sh_repl_"
DEPENDENTS_SQLSTATE = "2BP01"


@dataclass(frozen=True)
class ReplicationReport:
    """What one replication did; ``since`` is the high-water mark the copy started after."""

    source: str
    target: str
    mode: str
    rows: int
    inserted: int
    updated: int
    since: Any
    seconds: float


def parse_source(source: str, query: str | None) -> tuple[str, str | None]:
    """``"shop:public.orders"`` -> ("shop", "public.orders"); ``"shop"`` with a query -> ("shop", None)."""
    name, separator, table = source.partition(":")
    if query is not None:
        if separator:
            raise WarehouseError(
                name, "replicate", f"source '{source}': with a query name only the connection ('{name}')"
            )
        return name, None
    if not separator or not table:
        raise WarehouseError(
            name,
            "replicate",
            f"source '{source}': write it as 'connection:schema.table', or name the connection and give a query",
        )
    return name, table


def replicate(
    source: SqlConnection,
    target: SqlConnection,
    target_schema: str,
    target_table: str | None = None,
    *,
    table: str | None = None,
    query: str | None = None,
    incremental_field: str | None = None,
    pk: str | list[str] | None = None,
    batch_rows: int | None = None,
) -> ReplicationReport:
    """Copy ``table`` (``"schema.table"``) or ``query`` of ``source`` to ``target_schema.target_table``.

    Without ``incremental_field`` the target table is replaced as a whole. With it, only rows
    whose field is greater than the target's maximum are copied: merged by ``pk`` when given
    (rows equal to the maximum are re-read, so late rows sharing it are not lost), else appended.
    The table and any new column are created as needed.
    """
    for side_conn in (source, target):
        if not isinstance(side_conn, SqlConnection):
            raise WarehouseError(
                side_conn.name,
                "replicate",
                f"is a {type(side_conn).__name__}; replicate copies between SQL connections",
            )
    if (table is None) == (query is None):
        raise WarehouseError(source.name, "replicate", "pass a source table or query=, not both")
    if target_table is None and table is None:
        raise WarehouseError(target.name, "replicate", "replicating a query needs target_table=")
    name = checked(target.name, "table", target_table or (table or "").rpartition(".")[2])
    schema = checked(target.name, "schema", target_schema)
    keys = [checked(target.name, "column", k) for k in ([pk] if isinstance(pk, str) else pk or [])]
    label = f"connection '{target.name}', table '{schema}.{name}'"
    if not (store := dialect_of(target.engine)).capabilities.bulk_load:
        raise WarehouseError(target.name, "replicate", f"can write to {', '.join(bulk_dialects())}, not {store.name}")
    started = time.perf_counter()
    existing = described_table(target.engine, schema, name)
    since = (
        _high_water_mark(target, existing, incremental_field) if existing is not None and incremental_field else None
    )
    after = (
        None if since is None or not incremental_field else CursorFilter(incremental_field, since, inclusive=bool(keys))
    )
    reader = _source_stream(source, table, query, after, batch_rows or source.config.batch_rows)
    side = f"{SIDE_PREFIX}{uuid.uuid4().hex[:12]}"
    incoming = reader.schema
    try:
        target.land(schema, side, reader)
        rows = _count(target, schema, side)
        if existing is None or not incremental_field:
            _swap_in(target, schema, side, name, keys, incoming)
            counts = {"inserted": rows, "updated": 0}
        else:
            counts = _merge_in(target, schema, side, name, keys, incoming, rows)
    finally:
        with target.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quoted_name(target.engine, schema, side)}"))
    return ReplicationReport(
        source=f"connection '{source.name}', " + (f"table '{table}'" if table else "query"),
        target=label,
        mode="incremental" if incremental_field and existing is not None else "full",
        rows=rows,
        inserted=counts["inserted"],
        updated=counts["updated"],
        since=since,
        seconds=time.perf_counter() - started,
    )


def _high_water_mark(target: SqlConnection, existing: sa.Table, field: str) -> Any:
    if field not in existing.c:
        raise WarehouseError(
            target.name,
            f"table '{existing.schema}.{existing.name}'",
            f"has no column '{field}' to continue from (incremental_field); replicate once without it, or fix the name",
        )
    return high_water_mark(target.engine, existing, field)


def _source_stream(
    source: SqlConnection, table: str | None, query: str | None, after: CursorFilter | None, batch_rows: int
) -> pa.RecordBatchReader:
    """The source rows as Arrow batches. A DuckDB file is read through the connection's own
    engine: attaching a file this process already has open (a DuckDB store during a run) fails."""
    if not dialect_named(source.backend).capabilities.exclusive_file:
        return source.read(table, query=query, after=after, batch_rows=batch_rows)
    obj = f"table '{table}'" if table else "query"
    sql = (
        source.delta_query(table, query, after)
        if after is not None
        else (_select_all(source, table) if table is not None else given_query(query))
    )
    with source.engine.connect() as conn:
        cursor = driver_connection(conn).duplicate()
    return stream(
        cursor, sql, batch_rows=batch_rows, on_error=lambda exc: SourceError(source.name, obj, first_line(exc))
    )


def _select_all(source: SqlConnection, table: str) -> str:
    schema, name = source.split_table(table)
    return str(
        sa.select(sa.text("*")).select_from(sa.table(name, schema=schema)).compile(dialect=source.engine.dialect)
    )


def _swap_in(target: SqlConnection, schema: str, side: str, name: str, keys: list[str], incoming: pa.Schema) -> None:
    """Make the side table ``schema.name`` in one transaction (readers wait, then see it whole).

    When views depend on the old table (PostgreSQL refuses to drop it), its rows are replaced in
    place instead, in one transaction too, so the views keep working.
    """
    quote = target.engine.dialect.identifier_preparer.quote
    quoted_side = quoted_name(target.engine, schema, side)
    if keys:
        columns = ", ".join(quote(k) for k in keys)
        _run(
            target,
            f"{schema}.{name}",
            f"ALTER TABLE {quoted_side} ADD PRIMARY KEY ({columns})",
            "the rows repeat or lack the key " + ", ".join(keys),
        )
    retired = f"_sh_old_{uuid.uuid4().hex[:12]}"
    try:
        with target.engine.begin() as conn:
            if described_table(conn, schema, name) is not None:
                conn.exec_driver_sql(
                    f"ALTER TABLE {quoted_name(target.engine, schema, name)} RENAME TO {quote(retired)}"
                )
                conn.exec_driver_sql(f"ALTER TABLE {quoted_side} RENAME TO {quote(name)}")
                conn.exec_driver_sql(f"DROP TABLE {quoted_name(target.engine, schema, retired)}")
            else:
                conn.exec_driver_sql(f"ALTER TABLE {quoted_side} RENAME TO {quote(name)}")
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != DEPENDENTS_SQLSTATE and "Dependency Error" not in str(exc):
            raise WarehouseError(target.name, f"table '{schema}.{name}'", first_line(exc)) from exc
        _replace_rows(target, schema, side, name, incoming)


def _replace_rows(target: SqlConnection, schema: str, side: str, name: str, incoming: pa.Schema) -> None:
    existing = target.ensure_table(schema, name, incoming, [])
    columns = ", ".join(target.engine.dialect.identifier_preparer.quote(f.name) for f in incoming)
    with target.engine.begin() as conn:
        conn.execute(sa.delete(existing))
        conn.exec_driver_sql(
            f"INSERT INTO {quoted_name(target.engine, schema, name)} ({columns}) SELECT {columns} FROM "
            f"{quoted_name(target.engine, schema, side)}"
        )


def _merge_in(
    target: SqlConnection, schema: str, side: str, name: str, keys: list[str], incoming: pa.Schema, rows: int
) -> dict[str, int]:
    existing = target.ensure_table(schema, name, incoming, keys)
    stage = sa.Table(side, sa.MetaData(), *(sa.Column(f.name) for f in incoming), schema=schema)
    if keys:
        counts = target.merge_from(existing, stage, keys)
        return {"inserted": counts["inserted"], "updated": counts["updated"]}
    columns = [f.name for f in incoming]
    with target.engine.begin() as conn:
        conn.execute(sa.insert(existing).from_select(columns, sa.select(*(stage.c[c] for c in columns))))
    return {"inserted": rows, "updated": 0}


def _run(target: SqlConnection, name: str, sql: str, meaning: str) -> None:
    try:
        with target.engine.begin() as conn:
            conn.exec_driver_sql(sql)
    except sa.exc.DBAPIError as exc:
        raise WarehouseError(target.name, f"table '{name}'", f"{meaning}: {first_line(exc)}") from exc


def _count(target: SqlConnection, schema: str, name: str) -> int:
    with target.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(name, schema=schema))).scalar_one()
