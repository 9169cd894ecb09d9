"""SQLAlchemy's reflection of a DuckDB table or view, the same ``sa.Table``, from three small
catalog queries instead of duckdb_engine's eight pg_catalog ones.

duckdb_engine reflects through DuckDB's emulation of PostgreSQL's catalog: a table of a store
with a few dozen schemas is slow, and pipedag reflects every SQL
or lazy-polars input of a task on each run, cache-valid or not. DuckDB's own catalog functions
give the same facts in milliseconds. The columns go through the dialect's own type mapping
(``format_type`` computed as the pg_catalog view computes it, then the dialect's
``_get_columns_info``) and the table is built by SQLAlchemy's own ``Inspector.reflect_table``, so
types, nullability, defaults and comments come out exactly as before. A table with a constraint
other than NOT NULL (pipedag's DuckDB store writes none), a column whose type the dialect does
not know (ENUM, LIST, STRUCT, ...), or no column at all goes the full way instead (``None``).

Example::

    table = reflected_table(conn, "raw", "orders")   # as sa.Table("orders", ..., autoload_with=conn)
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.reflection import ReflectionDefaults, _ReflectionInfo

# Filters written into the text: with bound parameters DuckDB lists every relation of the database
# (duckdb_columns(): with their columns) before filtering.
_LITERAL = (
    sa.bindparam("schema", type_=sa.String, literal_execute=True),
    sa.bindparam("name", type_=sa.String, literal_execute=True),
)
_COLUMNS = sa.text(
    "SELECT table_name, column_name AS name, "
    "pg_catalog.format_type(data_type_id, CASE WHEN data_type ILIKE '%decimal%' "
    "THEN numeric_precision * 1000 + numeric_scale ELSE -1 END) AS format_type, "
    'column_default AS "default", NOT is_nullable AS not_null, comment, data_type '
    "FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = :schema "
    "AND table_name = :name ORDER BY column_index"
).bindparams(*_LITERAL)
_CONSTRAINTS = sa.text(
    "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database() "
    "AND schema_name = :schema AND table_name = :name AND constraint_type <> 'NOT NULL'"
).bindparams(*_LITERAL)
_COMMENT = sa.text(
    "SELECT comment FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = :schema "
    "AND table_name = :name UNION ALL SELECT comment FROM duckdb_views() WHERE database_name = current_database() "
    "AND schema_name = :schema AND view_name = :name"
).bindparams(*_LITERAL)
_ARGS = re.compile(r"\(.*\)|\[\]")


def reflected_table(conn: sa.Connection, schema: str, name: str) -> sa.Table | None:
    """``schema.name`` as SQLAlchemy's reflection gives it, or None where the quick path does
    not apply (then reflect the usual way: it also raises NoSuchTableError for a missing table)."""
    dialect: Any = conn.dialect  # PostgreSQL's: its _get_columns_info maps the rows
    params = {"schema": schema, "name": name}
    rows = [
        dict(row, collation=None, generated=None, identity_options=None)
        for row in conn.execute(_COLUMNS, params).mappings()
    ]
    if not rows or any(not _known_type(dialect, row) for row in rows):
        return None
    if conn.execute(_CONSTRAINTS, params).scalar_one():
        return None
    key = (schema, name)
    comment = conn.execute(_COMMENT, params).scalar()
    info = _ReflectionInfo(
        columns={key: dialect._get_columns_info(rows, {}, {}, schema)[key]},
        pk_constraint={key: ReflectionDefaults.pk_constraint()},
        foreign_keys={key: ReflectionDefaults.foreign_keys()},
        indexes={key: ReflectionDefaults.indexes()},
        unique_constraints={key: ReflectionDefaults.unique_constraints()},
        table_comment={key: {"text": comment} if comment is not None else ReflectionDefaults.table_comment()},
        check_constraints={key: ReflectionDefaults.check_constraints()},
        table_options={},
        unreflectable={},
    )
    table = sa.Table(name, sa.MetaData(), schema=schema)
    sa.inspect(conn).reflect_table(table, None, _reflect_info=info)
    return table


def _known_type(dialect: Any, row: dict[str, Any]) -> bool:
    """A type the dialect maps by name alone (an ENUM's name is looked up among the enum types)."""
    format_type = row["format_type"]
    return (
        format_type is not None
        and not row["data_type"].startswith("ENUM")
        and _ARGS.sub("", format_type).strip().lower() in dialect.ischema_names
    )
