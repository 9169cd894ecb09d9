"""A table's columns in the database's own type names, from the catalog in one or two queries.

SQLAlchemy's reflection costs eight catalog queries per table on DuckDB (~0.3 s) and maps types
to its own (DuckDB's DOUBLE becomes FLOAT, time zones are dropped); the type names the database
itself reports are cheaper and exact, and can be written back into casts and DDL as they are.

Example::

    columns_of(engine, "raw", "orders")   # {'id': 'BIGINT', 'total': 'DECIMAL(18,2)', ...}
    table = described_table(engine, "raw", "orders")   # sa.Table with NativeType columns
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


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


def columns_of(engine: sa.Engine | sa.Connection, schema: str | None, name: str) -> dict[str, str]:
    """Column name -> the database's type name, in table order; empty when there is no such table."""
    return columns_of_tables(engine, schema, [name]).get(name, {})


@contextmanager
def connected(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    """``bind`` itself when it is a connection (its open transaction sees what it wrote), else a
    new connection of the engine, closed after."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.connect() as conn:
        yield conn


def columns_of_tables(engine: sa.Engine | sa.Connection, schema: str | None, names: list[str]) -> dict[str, dict[str, str]]:
    """``columns_of`` for several tables of one schema, in one catalog query; absent tables are left out."""
    with connected(engine) as conn:
        return _columns_of_tables(conn, schema or _default_schema(conn), names)


def _columns_of_tables(conn: sa.Connection, schema: str, names: list[str]) -> dict[str, dict[str, str]]:
    if conn.dialect.name == "duckdb":
        return _duckdb_columns_of_tables(conn, schema, names)
    query = sa.text(
        "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
        "FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name IN :names ORDER BY table_name, ordinal_position"
    ).bindparams(sa.bindparam("names", expanding=True))
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind, length, precision, scale in conn.execute(query, {"schema": schema, "names": names}):
        tables.setdefault(table, {})[column] = _type_name(kind, length, precision, scale)
    return tables


def _type_name(kind: str, length: int | None, precision: int | None, scale: int | None) -> str:
    """``character varying(40)``, ``numeric(15,2)``: the catalog's type name with the modifiers
    that change what a value may be (a bare ``numeric`` has none: any precision)."""
    lowered = kind.lower()
    if length and "char" in lowered:
        return f"{kind}({length})"
    if precision is not None and lowered in ("numeric", "decimal"):
        return f"{kind}({precision},{scale or 0})"
    return kind


def _duckdb_columns_of_tables(conn: sa.Connection, schema: str, names: list[str]) -> dict[str, dict[str, str]]:
    """DuckDB's catalog views (``information_schema.columns``, ``duckdb_columns()``) cost 8–9 ms
    on their first use in a database instance — a store's engine is new in every run — where
    ``DESCRIBE`` of the tables costs 0.5 ms each and reports the same type names."""
    present = set(conn.execute(
        sa.text(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = :schema "
            "AND table_name IN :names UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = :schema AND view_name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"schema": schema, "names": names},
    ).scalars())
    quote = conn.dialect.identifier_preparer.quote
    return {name: _described_columns(conn, f"{quote(schema)}.{quote(name)}") for name in names if name in present}


def _described_columns(conn: sa.Connection, relation: str) -> dict[str, str]:
    return {column: kind for column, kind, *_ in conn.exec_driver_sql(f"DESCRIBE {relation}")}


def stored_tables(conn: sa.Connection, schema: str) -> dict[str, int | None]:
    """The tables of ``schema`` with their row counts where the catalog keeps them (DuckDB's
    ``estimated_size``; None elsewhere), from one catalog query; empty when the schema is absent.

    Example: ``stored_tables(conn, "stagehouse_versions")`` → ``{"raw__orders__g1": 1020000}``
    """
    if conn.dialect.name == "duckdb":
        query = sa.text(
            "SELECT table_name, estimated_size FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = :schema"
        )
        return {name: size for name, size in conn.execute(query, {"schema": schema})}
    return dict.fromkeys(sa.inspect(conn).get_table_names(schema=schema))


def described_temporary_table(conn: sa.Connection, name: str) -> sa.Table:
    """The TEMP table ``name`` of DuckDB connection ``conn`` (unqualified: DuckDB looks in the
    connection's temporary catalog first), with its columns in the store's types."""
    return _native_table(name, _described_columns(conn, conn.dialect.identifier_preparer.quote(name)), None)


def _native_table(name: str, columns: dict[str, str], schema: str | None) -> sa.Table:
    return sa.Table(name, sa.MetaData(), *(sa.Column(c, NativeType(kind)) for c, kind in columns.items()), schema=schema)


def _default_schema(conn: sa.Connection) -> str:
    if conn.dialect.name == "duckdb":
        return conn.dialect.default_schema_name or "main"
    return conn.dialect.default_schema_name


def described_table(engine: sa.Engine | sa.Connection, schema: str | None, name: str) -> sa.Table | None:
    """``schema.name`` (a table or a view) with its columns in the store's types, or None if absent."""
    return described_tables(engine, schema, [name]).get(name)


def described_tables(engine: sa.Engine | sa.Connection, schema: str | None, names: list[str]) -> dict[str, sa.Table]:
    """``described_table`` for several tables of one schema, from one catalog query."""
    return {name: _native_table(name, columns, schema) for name, columns in columns_of_tables(engine, schema, names).items()}


def primary_key_of(engine: sa.Engine, schema: str | None, name: str) -> list[str]:
    """The primary key columns of ``schema.name`` from ``information_schema`` (empty if none)."""
    query = sa.text(
        "SELECT kcu.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
        "AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name "
        "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = :schema AND tc.table_name = :name "
        "ORDER BY kcu.ordinal_position"
    )
    with engine.connect() as conn:
        return list(conn.execute(query, {"schema": schema or _default_schema(conn), "name": name}).scalars())


RELATION_KIND_QUERIES = {  # DuckDB's information_schema costs 8–9 ms on first use per instance (see above)
    "duckdb": "SELECT 'VIEW' FROM duckdb_views() WHERE database_name = current_database() AND schema_name = :s AND view_name = :t "
              "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = :s AND table_name = :t",
}
RELATION_KIND_DEFAULT = "SELECT CASE table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'TABLE' END FROM information_schema.tables WHERE table_schema = :s AND table_name = :t"


def relation_kind(bind: sa.Engine | sa.Connection, schema: str | None, name: str) -> str | None:
    """'TABLE' or 'VIEW' for the relation ``schema.name``, None when there is none; one catalog query.

    Example: ``relation_kind(engine, "raw", "customers")`` → ``'VIEW'`` for a merge sync's stage table."""
    with connected(bind) as conn:
        query = RELATION_KIND_QUERIES.get(conn.dialect.name, RELATION_KIND_DEFAULT)
        return conn.execute(sa.text(query), {"s": schema or _default_schema(conn), "t": name}).scalar()


def affected_rows(conn: sa.Connection, statement: sa.Executable) -> int:
    """Run a DML statement and return how many rows it changed (DuckDB reports it as a result row).
    A database error is raised as SQLAlchemy's ``DBAPIError`` on every store, as ``conn.execute`` does."""
    if conn.dialect.name == "duckdb":
        import duckdb

        compiled = statement.compile(dialect=conn.dialect)
        params = compiled.construct_params()
        values = [params[name] for name in compiled.positiontup] if compiled.positiontup else []
        try:
            return conn.connection.driver_connection.execute(str(compiled), values).fetchone()[0]
        except duckdb.Error as exc:
            raise sa.exc.DBAPIError.instance(str(compiled), values, exc, duckdb.Error) from exc
    return conn.execute(statement).rowcount


COUNTED_STATEMENTS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE_INTO"})
# DuckDB answers DDL and settings with an empty 'Count' or 'Success' result, not with rows of data
SILENT_STATEMENTS = frozenset({"CREATE", "DROP", "ALTER", "TRANSACTION", "SET", "VARIABLE_SET", "LOAD", "ATTACH", "DETACH",
                               "VACUUM", "ANALYZE", "CREATE_FUNC", "PREPARE", "EXTENSION"})
RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def duckdb_answer(conn: sa.Connection, statement: sa.Executable) -> str | None:
    """How DuckDB answers ``statement`` where it differs from a DB-API driver: 'count' for DML
    without RETURNING (a count row, which ``affected_rows`` reads), 'none' for DDL and settings
    (an empty result); None otherwise, and on every other store."""
    if conn.dialect.name != "duckdb":
        return None
    import duckdb

    sql = str(statement.compile(dialect=conn.dialect))
    try:
        parsed = duckdb.extract_statements(sql)
    except duckdb.Error:
        return None
    kind = parsed[0].type.name if len(parsed) == 1 else None
    if kind in COUNTED_STATEMENTS and not RETURNING.search(sql):
        return "count"
    return "none" if kind in SILENT_STATEMENTS else None


def quote_duckdb_keywords(engine: sa.Engine) -> None:
    """duckdb-engine quotes PostgreSQL's reserved words only; DuckDB also reserves ``at``, ``pivot``, ...

    Unquoted, a column named ``at`` breaks an INSERT column list. This adds DuckDB's own
    reserved, type-function and column-name keywords to this engine's quoting rules. The list
    is read once per process (it is DuckDB's, not the database's; a store's engine is new each run).
    """
    preparer = engine.dialect.identifier_preparer
    if getattr(preparer, "_stagehouse_duckdb_keywords", False):
        return
    if not _duckdb_keywords:
        with engine.connect() as conn:
            _duckdb_keywords.update(
                conn.exec_driver_sql("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'").scalars()
            )
    preparer.reserved_words = set(preparer.reserved_words) | _duckdb_keywords
    preparer._stagehouse_duckdb_keywords = True


_duckdb_keywords: set[str] = set()


def quoted_name(engine: sa.Engine, schema: str | None, name: str) -> str:
    """``"schema"."name"`` quoted for ``engine``'s dialect, for statements SQLAlchemy can't build (DDL)."""
    quote = engine.dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def high_water_mark(engine: sa.Engine, table: sa.Table, column: str) -> Any:
    """``max(column)`` of ``table`` (None when it is empty): where an incremental read resumes."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(table.c[column]))).scalar()


def adbc_uri(engine: sa.Engine) -> str:
    """The libpq URI ADBC's PostgreSQL driver takes for ``engine``'s database (password included)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def adbc_bulk_connection(engine: sa.Engine):
    """An ADBC connection to ``engine``'s PostgreSQL database for bulk writes (``adbc_ingest``).

    By default the driver reads the server's whole type catalog on connect (75 ms here, far more
    on databases with many tables, apache/arrow-adbc#1755). A write creates its columns from
    Arrow types, all built into PostgreSQL, so the driver's built-in type table is enough: the
    connection opens in ~10 ms. Reads of arbitrary tables keep the server's catalog (user types).

        with adbc_bulk_connection(engine) as conn, conn.cursor() as cur:
            cur.adbc_ingest("orders", reader, mode="create", db_schema_name="raw")
    """
    import adbc_driver_postgresql.dbapi as adbc

    return adbc.connect(adbc_uri(engine), db_kwargs={"adbc.postgresql.type_resolver_mode": "builtin"})
