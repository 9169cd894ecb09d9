"""PostgreSQL: a server store that takes Arrow by ADBC's binary COPY, keeps comments on every
object and plans joins from statistics (``ANALYZE``).

Example::

    with dialect_of(engine).bulk_connection(engine) as conn, conn.cursor() as cur:
        cur.adbc_ingest("orders", reader, mode="create", db_schema_name="raw")
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.sql.dialects.base import Capabilities, SqlDialect, catalog_type_name
from stagehouse.connectors.sql.pg_numeric import TYPNAME, typed_numerics

COLUMNS = (
    "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, "
    "udt_schema, udt_name FROM information_schema.columns WHERE table_schema = :schema AND table_name IN :names "
    "ORDER BY table_name, ordinal_position"
)
COMMENTS = {
    "database": "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()",
    "schema": "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = :s",
}


class PostgresDialect(SqlDialect):
    """PostgreSQL through psycopg (2 or 3), bulk through ADBC."""

    name = "postgresql"
    capabilities = Capabilities(
        bulk_load="adbc_copy",
        change_log_overlay=True,
        comment_kinds=frozenset({"database", "schema", "table", "field"}),
        describable_kinds=frozenset({"database", "schema", "table", "field"}),
        keeps_catalog=True,
        partial_indexes=True,
        enforces_lengths=True,
        kept_arrow_connections=True,
    )

    columns_catalog_query = COLUMNS

    def catalog_type(
        self, conn: sa.Connection, kind: str, length: int | None, precision: int | None, scale: int | None, *extra: str
    ) -> str:
        """A user-defined type (an enum, a domain) by its own qualified name, which a cast takes,
        where ``information_schema`` says ``USER-DEFINED``; an array (``ARRAY``, element type
        ``_int4``) as its element type's name with ``[]``: ``"pg_catalog"."int4"[]``."""
        if kind in ("USER-DEFINED", "ARRAY"):
            udt_schema, udt_name = extra
            quote = conn.dialect.identifier_preparer.quote
            if kind == "ARRAY":
                return f"{quote(udt_schema)}.{quote(udt_name.removeprefix('_'))}[]"
            return f"{quote(udt_schema)}.{quote(udt_name)}"
        return catalog_type_name(kind, length, precision, scale)

    def comment_query(self, kind: str) -> str | None:
        return COMMENTS.get(kind)

    def arrow(self, engine: sa.Engine, sql: str) -> pa.Table:
        import adbc_driver_postgresql.dbapi as adbc

        with adbc.connect(adbc_uri(engine)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return typed_numerics(cur.fetch_arrow_table())

    def kept_arrow_connection(self, engine: sa.Engine):
        """An ADBC connection in autocommit: the driver reads the server's type catalog on every
        connect, which costs more than a page's query."""
        import adbc_driver_postgresql.dbapi as adbc

        return adbc.connect(adbc_uri(engine), autocommit=True)

    def read_arrow(self, connection, sql: str) -> pa.Table:
        with connection.cursor() as cur:
            cur.execute(sql)
            return typed_numerics(cur.fetch_arrow_table())

    def outdated_read(self, table: pa.Table) -> bool:
        """A column of a type created after the connection read the server's types on connect."""
        return any((f.metadata or {}).get(TYPNAME, b"").startswith(b"unnamed<") for f in table.schema)

    def json_scalar(self, value: sa.ColumnElement) -> sa.ColumnElement:
        """The text of a JSON scalar; a JSON array as PostgreSQL's array literal (``[4, "a b"]`` ->
        ``{4,"a b"}``), which a cast to the column's array type takes."""
        from sqlalchemy.dialects.postgresql import JSONB  # loaded with the dialect; others skip it

        json = sa.cast(value, JSONB)
        elements = sa.func.jsonb_array_elements_text(json).table_valued("value").alias("element")
        literal = sa.select(sa.cast(sa.func.array_agg(elements.c.value), sa.Text)).scalar_subquery()
        return sa.case(
            (sa.func.jsonb_typeof(json) == "array", sa.func.coalesce(literal, "{}")),
            else_=json.op("#>>")(sa.literal_column("'{}'")),
        )

    def json_field(self, value: sa.ColumnElement, key: str) -> sa.ColumnElement:
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.func.jsonb_extract_path_text(sa.cast(value, JSONB), sa.literal(key, sa.Text))

    def try_cast(
        self, column: sa.ColumnElement, target: sa.types.TypeEngine, guard: str | None
    ) -> sa.ColumnElement | None:
        """No TRY_CAST: the cast runs where the text matches ``guard``; without one, cannot say."""
        if guard is None:
            return None
        text = sa.cast(column, sa.Text)
        return sa.case((text.op("~")(guard), sa.cast(text, target)), else_=None)

    def tune_load_transaction(self, conn: sa.Connection) -> None:
        """The default ``random_page_cost`` (4, priced for spinning disks) makes the planner scan
        and hash a whole versions table to close the few rows a small delta replaces; 1.1, the
        usual setting for SSDs and cached tables, lets it choose by the delta's size. A load's
        transactions need not wait for their WAL flush: nothing reads them before the stage
        commits, and pipedag's commit of the stage flushes them with it."""
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")

    def analyze_statement(self, relation: str, columns: list[str]) -> str:
        return f"ANALYZE {relation}{' (' + ', '.join(columns) + ')' if columns else ''}"

    def bulk_connection(self, engine: sa.Engine):
        """An ADBC connection for bulk writes (``adbc_ingest``). By default the driver reads the
        server's whole type catalog on connect (apache/arrow-adbc#1755); a write creates its
        columns from Arrow types, all built in, so the driver's built-in type table is enough."""
        import adbc_driver_postgresql.dbapi as adbc

        return adbc.connect(adbc_uri(engine), db_kwargs={"adbc.postgresql.type_resolver_mode": "builtin"})

    def land_arrow(
        self, engine: sa.Engine, schema: str | None, name: str, data: pa.Table | pa.RecordBatchReader
    ) -> None:
        """ADBC's binary COPY; ``numeric(12,2)`` stays ``numeric(12,2)`` (``declared.ingest_typed``)."""
        from stagehouse.connectors.sql.declared import ingest_typed

        with self.bulk_connection(engine) as conn:
            with conn.cursor() as cur:
                ingest_typed(cur, engine.dialect.identifier_preparer.quote, schema, name, data)
            conn.commit()


def adbc_uri(engine: sa.Engine) -> str:
    """The libpq URI ADBC's and psycopg2's drivers take for ``engine``'s database (password included)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
