"""Primary keys on each table store: capabilities as data.

PostgreSQL gets a real PRIMARY KEY constraint (pipedag adds it). On DuckDB pipedag emulates a
key with a UNIQUE INDEX, and DuckDB cannot rename a table that has an index, so pipedag's
commit of a partly cache-valid stage fails ("Cannot alter entry ... because there are entries
that depend on it"). There the key is not handed to pipedag; ``sync`` checks uniqueness itself
after loading, in the database.

Example::

    Table(obj, "orders", primary_key=physical_key(["order_id"]))
"""

from __future__ import annotations

import sqlalchemy as sa
from pydiverse.pipedag import ConfigContext

from connectors.sql.native import connected, quote_duckdb_keywords
from tasks.errors import StoreWriteError
from tasks.store_writers import bounded_memory

STORES_WITHOUT_RENAMEABLE_KEYS = {"duckdb"}


def store_engine() -> sa.Engine:
    """The SQLAlchemy engine of the running instance's table store (DuckDB keywords quoted)."""
    engine = ConfigContext.get().store.table_store.engine
    if engine.dialect.name == "duckdb":
        quote_duckdb_keywords(engine)
    return engine


def physical_key(primary_key: list[str] | None) -> list[str] | None:
    """The key to hand to pipedag: ``primary_key``, or None on stores where it breaks commits."""
    if primary_key and store_engine().dialect.name in STORES_WITHOUT_RENAMEABLE_KEYS:
        return None
    return primary_key


def _first_duplicate(schema: str | None, table: str, key: list[str]) -> sa.Select:
    columns = [sa.column(name) for name in key]
    return (
        sa.select(*columns, sa.func.count().label("n"))
        .select_from(sa.table(table, schema=schema))
        .group_by(*columns)
        .having(sa.func.count() > 1)
        .limit(1)
    )


def has_duplicate_key(bind: sa.Engine | sa.Connection, schema: str | None, table: str, key: list[str]) -> bool:
    """True when a ``key`` value occurs twice in ``schema.table``: a merge keeps the newest row
    per key only then (a source table's own primary key never repeats, and the dedup is the
    dearest part of merging a small delta — a hash aggregate of the delta costs ~1 ms)."""
    with connected(bind) as conn:
        return conn.execute(_first_duplicate(schema, table, key)).first() is not None


def check_unique(bind: sa.Engine | sa.Connection, schema: str | None, table: str, key: list[str]) -> None:
    """Raise StoreWriteError naming the first duplicated key value of ``schema.table``."""
    columns = [sa.column(name) for name in key]
    query = _first_duplicate(schema, table, key)
    null_query = sa.select(*columns).select_from(sa.table(table, schema=schema)).where(
        sa.or_(*(c.is_(None) for c in columns))
    ).limit(1)
    with connected(bind) as conn, bounded_memory(conn.engine):
        duplicate = conn.execute(query).mappings().first()
        null_row = conn.execute(null_query).mappings().first()
    if duplicate:
        value = {name: duplicate[name] for name in key}
        raise StoreWriteError(table, f"primary key {key} is not unique: {value} occurs {duplicate['n']} times")
    if null_row:
        raise StoreWriteError(table, f"primary key {key} has a NULL: {dict(null_row)}")
