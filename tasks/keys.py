"""Primary keys on each table store: what pipedag may keep, and the checks Stagehouse makes itself.

PostgreSQL gets a real PRIMARY KEY constraint (pipedag adds it). On DuckDB pipedag emulates a
key with a UNIQUE INDEX, and DuckDB cannot rename a table that has an index, so pipedag's
commit of a partly cache-valid stage fails ("Cannot alter entry ... because there are entries
that depend on it"). There the key is not handed to pipedag; ``sync`` checks uniqueness itself
after loading, in the database.

Example::

    Table(obj, "orders", primary_key=physical_key(["order_id"]))
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.sql.described import connected
from stagehouse.tasks.errors import DuplicateKeyError, NullKeyError
from stagehouse.tasks.stores.engine import store_engine, store_of


def physical_key(primary_key: list[str] | None) -> list[str] | None:
    """The key to hand to pipedag: ``primary_key``, or None on stores where it breaks commits
    (``capabilities.renameable_keyed_tables``)."""
    if primary_key and not store_of(store_engine()).capabilities.renameable_keyed_tables:
        return None
    return primary_key


def _first_key_problem(schema: str | None, table: str, key: list[str]) -> sa.Select:
    """The first NULL key of ``schema.table``, else its first repeated key, with the rows it has
    (``n``): one aggregate of the table answers both."""
    columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in key]
    null_key = sa.or_(*(c.is_(None) for c in columns))
    return (
        sa.select(*columns, sa.func.count().label("n"))
        .select_from(sa.table(table, schema=schema))
        .group_by(*columns)
        .having(sa.or_(sa.func.count() > 1, null_key))
        .order_by(sa.case((null_key, 0), else_=1))
        .limit(1)
    )


def _refuse_null_key(
    conn: sa.Connection,
    problem: sa.RowMapping,
    schema: str | None,
    table: str,
    key: list[str],
    source: str | None,
    store_table: str,
) -> None:
    """Raise NullKeyError when ``problem`` (a row of ``_first_key_problem``) has a NULL key,
    counting the rows with one (a second query, on the error path only)."""
    if all(problem[name] is not None for name in key):
        return
    rows = problem["n"]
    if len(key) > 1:
        columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in key]
        counted = (
            sa.select(sa.func.count())
            .select_from(sa.table(table, schema=schema))
            .where(sa.or_(*(c.is_(None) for c in columns)))
        )
        rows = conn.execute(counted).scalar_one()
    raise NullKeyError(source, store_table, key, rows)


def has_duplicate_key(
    bind: sa.Engine | sa.Connection,
    schema: str | None,
    table: str,
    key: list[str],
    *,
    source: str | None = None,
    store_table: str | None = None,
) -> bool:
    """True when a ``key`` value occurs twice in ``schema.table``: a merge keeps the newest row
    per key only then (a source table's own primary key never repeats, and the dedup is the
    dearest part of merging a small delta, while a hash aggregate of the delta is cheap).
    A NULL key raises NullKeyError (naming ``source`` and ``store_table``): it would never
    match the committed row it replaces. The same aggregate finds both."""
    with connected(bind) as conn:
        problem = conn.execute(_first_key_problem(schema, table, key)).mappings().first()
        if problem is not None:
            _refuse_null_key(conn, problem, schema, table, key, source, store_table or table)
    return problem is not None


def check_unique(
    bind: sa.Engine | sa.Connection,
    schema: str | None,
    table: str,
    key: list[str],
    *,
    source: str | None = None,
    store_table: str | None = None,
) -> None:
    """Raise NullKeyError for a NULL ``key`` of ``schema.table``, else StoreWriteError naming its
    first duplicated key value (one aggregate of the table)."""
    with connected(bind) as conn, store_of(conn).bounded_memory(conn.engine):
        problem = conn.execute(_first_key_problem(schema, table, key)).mappings().first()
        if problem is None:
            return
        _refuse_null_key(conn, problem, schema, table, key, source, store_table or table)
    value = {name: problem[name] for name in key}
    raise DuplicateKeyError(source, store_table or table, key, value, problem["n"])
