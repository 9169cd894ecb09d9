"""A table's columns in the database's own type names, from the catalog in one or two queries.

SQLAlchemy's reflection costs eight catalog queries per table on DuckDB and maps types
to its own (DuckDB's DOUBLE becomes FLOAT, time zones are dropped); the type names the database
itself reports (``SqlDialect.columns_of_tables``) are cheaper and exact, and can be written back
into casts and DDL as they are.

Example::

    columns_of(engine, "raw", "orders")   # {'id': 'BIGINT', 'total': 'DECIMAL(18,2)', ...}
    table = described_table(engine, "raw", "orders")   # sa.Table with NativeType columns
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa

from stagehouse.connectors.sql.dialects import dialect_of


class NativeType(sa.types.UserDefinedType):
    """A column type written exactly as the store names it (``TIMESTAMP WITH TIME ZONE``)."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def get_col_spec(self, **kw) -> str:
        return self.spec

    def coerce_compared_value(self, op, value):
        """A Python value compared with the column binds (and renders) as its own type."""
        return sa.literal(value).type


def native_spec(type_: sa.types.TypeEngine[Any]) -> str:
    """The store's own name of a described column's type (its ``NativeType``)."""
    return cast(NativeType, type_).spec


@contextmanager
def connected(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    """``bind`` itself when it is a connection (its open transaction sees what it wrote), else a
    new connection of the engine, closed after."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.connect() as conn:
        yield conn


def columns_of(engine: sa.Engine | sa.Connection, schema: str | None, name: str) -> dict[str, str]:
    """Column name -> the database's type name, in table order; empty when there is no such table."""
    return columns_of_tables(engine, schema, [name]).get(name, {})


def columns_of_tables(
    engine: sa.Engine | sa.Connection, schema: str | None, names: list[str]
) -> dict[str, dict[str, str]]:
    """``columns_of`` for several tables of one schema, in one catalog query; absent tables are left out."""
    with connected(engine) as conn:
        dialect = dialect_of(conn)
        return dialect.columns_of_tables(conn, schema or dialect.default_schema(conn) or "", names)


def described_table(engine: sa.Engine | sa.Connection, schema: str | None, name: str) -> sa.Table | None:
    """``schema.name`` (a table or a view) with its columns in the store's types, or None if absent."""
    return described_tables(engine, schema, [name]).get(name)


def described_tables(engine: sa.Engine | sa.Connection, schema: str | None, names: list[str]) -> dict[str, sa.Table]:
    """``described_table`` for several tables of one schema, from one catalog query."""
    return {
        name: native_table(name, columns, schema) for name, columns in columns_of_tables(engine, schema, names).items()
    }


def native_table(name: str, columns: dict[str, str], schema: str | None) -> sa.Table:
    """An ``sa.Table`` whose columns have the store's own type names (``NativeType``)."""
    return sa.Table(
        name, sa.MetaData(), *(sa.Column(c, NativeType(kind)) for c, kind in columns.items()), schema=schema
    )


def primary_key_of(engine: sa.Engine, schema: str | None, name: str) -> list[str]:
    """The primary key columns of ``schema.name`` from ``information_schema`` (empty if none)."""
    with engine.connect() as conn:
        return dialect_of(conn).constraint_key(conn, schema, name)


def relation_kind(bind: sa.Engine | sa.Connection, schema: str | None, name: str) -> str | None:
    """'TABLE' or 'VIEW' for the relation ``schema.name``, None when there is none; one catalog query.

    Example: ``relation_kind(engine, "raw", "customers")`` → ``'VIEW'`` for a merge sync's stage table."""
    with connected(bind) as conn:
        dialect = dialect_of(conn)
        return conn.execute(
            sa.text(dialect.relation_kind_query()), {"s": schema or dialect.default_schema(conn), "t": name}
        ).scalar()


def stored_tables(conn: sa.Connection, schema: str) -> dict[str, int | None]:
    """The tables of ``schema`` with their row counts where the catalog keeps them (None
    elsewhere), from one catalog query; empty when the schema is absent.

    Example: ``stored_tables(conn, "stagehouse_versions")`` → ``{"raw__orders__g1": 1020000}``
    """
    return dialect_of(conn).stored_tables(conn, schema)
