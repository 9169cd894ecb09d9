"""DuckDB: an embedded store that scans Arrow itself, with transactional DDL and its own catalog
functions (``duckdb_tables()``, ``DESCRIBE``), which answer in a fraction of the time its
``information_schema`` views take on their first use in a database instance (a store's engine is
new in every run).

Example::

    dialect_of(engine).stored_tables(conn, "stagehouse_versions")   # {"raw__orders__g1": 1020000}
"""

from __future__ import annotations

import re
import uuid
from typing import cast

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from stagehouse.connectors.sql.dialects.base import Capabilities, SqlDialect
from stagehouse.connectors.sql.driver import driver_connection
from stagehouse.connectors.sql.identifiers import quoted_name

COUNTED_STATEMENTS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE_INTO"})
# DuckDB answers DDL and settings with an empty 'Count' or 'Success' result, not with rows of data
SILENT_STATEMENTS = frozenset(
    {
        "CREATE",
        "DROP",
        "ALTER",
        "TRANSACTION",
        "SET",
        "VARIABLE_SET",
        "LOAD",
        "ATTACH",
        "DETACH",
        "VACUUM",
        "ANALYZE",
        "CREATE_FUNC",
        "PREPARE",
        "EXTENSION",
    }
)
RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
PRESENT_RELATIONS = (
    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = :schema "
    "AND table_name IN :names UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
    "AND schema_name = :schema AND view_name IN :names"
)
RELATION_KIND = (
    "SELECT 'VIEW' FROM duckdb_views() WHERE database_name = current_database() AND schema_name = :s AND view_name = "
    ":t "
    "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = :s AND "
    "table_name = :t"
)
_keywords: set[str] = set()  # DuckDB's own list, not the database's: read once per process


class DuckDBDialect(SqlDialect):
    """DuckDB through duckdb-engine."""

    name = "duckdb"
    capabilities = Capabilities(
        bulk_load="arrow_scan",
        one_transaction_load=True,
        renameable_keyed_tables=False,
        change_log_overlay=True,
        comment_kinds=frozenset({"table", "field"}),
        keeps_catalog=True,
        file_database=True,
        exclusive_file=True,
    )

    def prepare_engine(self, engine: sa.Engine) -> None:
        """duckdb-engine quotes PostgreSQL's reserved words only; DuckDB also reserves ``at``,
        ``pivot``, ... Unquoted, a column named ``at`` breaks an INSERT column list. This adds
        DuckDB's reserved, type-function and column-name keywords to the engine's quoting rules."""
        preparer = engine.dialect.identifier_preparer
        if getattr(preparer, "_stagehouse_duckdb_keywords", False):
            return
        if not _keywords:  # the same in every database: asked of an in-memory one, not the engine's file
            import duckdb

            with duckdb.connect() as memory:
                rows = memory.sql("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'")
                _keywords.update(row[0] for row in rows.fetchall())
        preparer.reserved_words = set(preparer.reserved_words) | _keywords
        vars(preparer)["_stagehouse_duckdb_keywords"] = True  # an attribute of ours on the instance

    def default_schema(self, conn: sa.Connection) -> str:
        return conn.dialect.default_schema_name or "main"

    def columns_of_tables(self, conn: sa.Connection, schema: str, names: list[str]) -> dict[str, dict[str, str]]:
        """``DESCRIBE`` of each present table (the same type names as the catalog, far quicker)."""
        query = sa.text(PRESENT_RELATIONS).bindparams(sa.bindparam("names", expanding=True))
        present = set(conn.execute(query, {"schema": schema, "names": names}).scalars())
        return {
            name: self.described_columns(conn, quoted_name(conn, schema, name)) for name in names if name in present
        }

    def described_columns(self, conn: sa.Connection, relation: str) -> dict[str, str]:
        """Column -> type of ``relation`` (quoted; a TEMP table unqualified) by ``DESCRIBE``."""
        return {column: kind for column, kind, *_ in conn.exec_driver_sql(f"DESCRIBE {relation}")}

    def stored_tables(self, conn: sa.Connection, schema: str) -> dict[str, int | None]:
        query = sa.text(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE database_name = current_database() AND "
            "schema_name = :schema"
        )
        return {name: size for name, size in conn.execute(query, {"schema": schema})}

    def relation_kind_query(self) -> str:
        return RELATION_KIND

    def primary_key(self, conn: sa.Connection, schema: str | None, name: str) -> list[str]:
        """duckdb-engine's inspector reports no primary keys: ask ``information_schema``."""
        return self.constraint_key(conn, schema, name)

    def schemas_query(self) -> str:
        """The inspector names the schemas of every attached database ('memory.main')."""
        return "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()"

    def table_comments(
        self, conn: sa.Connection, schema: str, table: str, *, fields: bool = True
    ) -> tuple[str | None, dict[str, str]]:
        """``duckdb_columns()`` binds every view of the system catalog first: asked for only with ``fields``."""
        table_comment = conn.execute(
            sa.text(
                "SELECT comment FROM duckdb_tables() WHERE schema_name = :s AND table_name = :t "
                "UNION ALL SELECT comment FROM duckdb_views() WHERE schema_name = :s AND view_name = :t"
            ),
            {"s": schema, "t": table},
        ).scalar()
        if not fields:
            return table_comment, {}
        rows = conn.execute(
            sa.text("SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = :s AND table_name = :t"),
            {"s": schema, "t": table},
        ).all()
        return table_comment, {n: c for n, c in rows if c}

    def affected_rows(self, conn: sa.Connection, statement: sa.Executable) -> int:
        """DuckDB reports the count as a result row, which SQLAlchemy discards for its own DML; a
        database error is still raised as SQLAlchemy's ``DBAPIError``, as ``conn.execute`` does."""
        import duckdb

        assert isinstance(statement, sa.ClauseElement)  # every statement is one
        compiled = cast(SQLCompiler, statement.compile(dialect=conn.dialect))  # a DML statement's
        params = compiled.construct_params()
        values = [params[name] for name in compiled.positiontup] if compiled.positiontup else []
        try:
            return driver_connection(conn).execute(str(compiled), values).fetchone()[0]
        except duckdb.Error as exc:
            raise sa.exc.DBAPIError.instance(str(compiled), values, exc, duckdb.Error) from exc

    def written_rows(self, conn: sa.Connection, statement: str | sa.Executable) -> int:
        """The cursor reports -1 and answers with a row holding the count: run the statement as text."""
        if isinstance(statement, str):
            text = statement
        else:
            assert isinstance(statement, sa.ClauseElement)  # every statement is one
            text = str(statement.compile(conn.engine, compile_kwargs={"literal_binds": True}))
        return conn.exec_driver_sql(text).scalar_one()

    def driver_answer(self, conn: sa.Connection, statement: sa.Executable) -> str | None:
        """'count' for DML without RETURNING, 'none' for DDL and settings."""
        import duckdb

        assert isinstance(statement, sa.ClauseElement)  # every statement is one
        sql = str(statement.compile(dialect=conn.dialect))
        try:
            parsed = duckdb.extract_statements(sql)
        except duckdb.Error:
            return None
        kind = parsed[0].type.name if len(parsed) == 1 else None
        if kind in COUNTED_STATEMENTS and not RETURNING.search(sql):
            return "count"
        return "none" if kind in SILENT_STATEMENTS else None

    def arrow(self, engine: sa.Engine, sql: str) -> pa.Table:
        with engine.connect() as conn:
            return driver_connection(conn).execute(sql).to_arrow_table()

    def try_cast(self, column: sa.ColumnElement, target: sa.types.TypeEngine, guard: str | None) -> sa.ColumnElement:
        return sa.try_cast(column, target)

    def land_arrow(
        self, engine: sa.Engine, schema: str | None, name: str, data: pa.Table | pa.RecordBatchReader
    ) -> None:
        """DuckDB scans the Arrow data itself, registered as a view (a stream batch by batch)."""
        import duckdb

        from stagehouse.connectors.sql.exact_numerics import store_landing

        with engine.connect() as conn:
            duck = driver_connection(conn)
            view = f"stagehouse_write_{uuid.uuid4().hex[:8]}"
            duck.register(view, data)
            select, refusal = store_landing(view, data.schema)  # a wide PostgreSQL numeric: DECIMAL, or refused
            try:
                duck.execute(f"CREATE TABLE {quoted_name(engine, schema, name)} AS {select}")
            except duckdb.Error as exc:
                if (refused := refusal(exc)) is not None:
                    raise refused from exc
                raise
            finally:
                duck.unregister(view)
            conn.commit()
