"""What a table and its columns are described as: the database's comment, else the description kept
in the catalog (a stage run recreates its tables without comments until its commit re-applies them).

The columns' comments are read only when asked for: on DuckDB they come from ``duckdb_columns()``,
which lists every column of the system catalog too and costs more than a page of rows in a newly
opened store.

Example::

    with engine.connect() as conn:
        descriptions(conn, "raw", "orders")                # ('Orders of the shop', {'amount': 'in euro'})
        descriptions(conn, "raw", "orders", fields=False)  # ('Orders of the shop', {})
"""

from __future__ import annotations

import sqlalchemy as sa

from stagehouse.connectors.sql import catalog
from stagehouse.connectors.sql.catalog import Ref
from stagehouse.connectors.sql.dialects import dialect_of


def descriptions(
    conn: sa.Connection, schema: str, table: str, *, fields: bool = True
) -> tuple[str | None, dict[str, str]]:
    """The description of ``schema.table`` and, with ``fields``, of its columns (column -> text,
    described ones only)."""
    table_comment, column_comments = comments(conn, schema, table, fields=fields)
    if not fields:  # the kept description only stands in for a missing comment
        return table_comment or catalog.kept_description(conn, Ref(schema, table)), {}
    kept = {r["field_name"]: r["description"] for r in catalog.rows(conn, schema, table)}
    described = {**{k: v for k, v in kept.items() if k and v is not None}, **column_comments}
    return table_comment or kept.get(""), described


def comments(conn: sa.Connection, schema: str, table: str, *, fields: bool = True) -> tuple[str | None, dict[str, str]]:
    """The database's comment on ``schema.table`` and, with ``fields``, on its columns."""
    found = dialect_of(conn).table_comments(conn, schema, table, fields=fields)
    if found is not None:
        return found
    inspector = sa.inspect(conn)
    table_comment = inspector.get_table_comment(table, schema=schema).get("text")
    if not fields:
        return table_comment, {}
    return table_comment, {
        c["name"]: c.get("comment") or "" for c in inspector.get_columns(table, schema=schema) if c.get("comment")
    }
