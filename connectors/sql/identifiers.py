"""Names of schemas, tables and columns that come from users (API calls, change logs).

SQLAlchemy quotes every identifier we emit, so a name can never break out of its quotes; on top
of that a name that looks like an injection attempt (quotes, semicolons, comment marks, control
characters) is refused with an error before any statement is built, so it is never executed
even in a store or driver with quoting bugs.

Example::

    checked("shop", "table", "orders")            # 'orders'
    checked("shop", "table", 'x"; DROP TABLE t')  # UnsafeIdentifierError
    split_table("db.raw.orders")                  # ('db.raw', 'orders')
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from stagehouse.connectors.errors import UnsafeIdentifierError

SAFE_NAME = re.compile(r"^[^\W\d][\w $-]{0,127}$")


def checked(connection: str, kind: str, name: object) -> str:
    """``name`` if it is a plain identifier; else UnsafeIdentifierError naming it."""
    if not isinstance(name, str) or not SAFE_NAME.match(name) or name != name.strip():
        raise UnsafeIdentifierError(connection, kind, name)
    return name


def split_table(table: str, schema: str | None = None) -> tuple[str | None, str]:
    """``(schema, name)`` of a dotted table name: the name is the part after the last dot, the
    schema all before it (``'db.raw.orders'`` -> ``('db.raw', 'orders')``: a qualifier may have
    parts, a table name has none); a bare name keeps ``schema`` (None by default)."""
    qualifier, _, name = table.rpartition(".")
    return (qualifier or schema), name


def checked_table(connection: str, table: str, schema: str | None = None) -> tuple[str | None, str]:
    """``("raw", "orders")`` from ``"raw.orders"`` or from ``table="orders", schema="raw"``, each
    part ``checked`` (so ``'db.raw.orders'`` is refused: its schema ``db.raw`` is not a plain name)."""
    schema, table = split_table(table, schema) if schema is None else (schema, table)
    return (checked(connection, "schema", schema) if schema is not None else None), checked(connection, "table", table)


def quoted_name(bind: sa.Engine | sa.Connection, schema: str | None, name: str) -> str:
    """``"schema"."name"`` quoted for ``bind``'s dialect, for statements SQLAlchemy can't build (DDL)."""
    quote = bind.dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def dotted(schema: str | None, table: str) -> str:
    """``"raw.orders"`` (or ``"orders"`` without a schema), as messages name a table."""
    return f"{schema}.{table}" if schema else table
