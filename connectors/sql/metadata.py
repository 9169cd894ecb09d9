"""The warehouse client's metadata verbs: databases, schemas, tables, fields with descriptions
(stored as real database comments), and saved queries kept as views or materialized tables.

Example::

    wh = connect("warehouse")
    wh.list_tables("raw")                      # [{'schema': 'raw', 'name': 'orders', 'type': 'VIEW'}, ...]
    wh.get_table("raw", "orders")["fields"]    # [{'name': 'id', 'type': 'BIGINT', 'nullable': False, ...}]
    wh.update_field("crm", "contacts", "email", "Primary e-mail, lower case")
    wh.upsert_query("reports", "big_orders", "SELECT * FROM raw.orders WHERE total > 100", as_view=False)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from connectors.errors import WarehouseError, first_line
from connectors.sql.identifiers import checked, split_table
from connectors.sql.native import primary_key_of

META_SCHEMA = "stagehouse_meta"
VERSIONS_SCHEMA = "stagehouse_versions"  # the rows behind incremental stage tables (tasks/versioned.py)
INTERNAL_SCHEMAS = frozenset({"pipedag_metadata", META_SCHEMA, VERSIONS_SCHEMA, "information_schema"})
INTERNAL_SUFFIXES = ("__even", "__odd", "__tmp", "__swap")  # pipedag's copies of a stage
# the inspector names DuckDB's schemas of every attached database ('memory.main'); this lists the open one's
SCHEMA_QUERIES = {"duckdb": "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()"}


def is_internal_schema(name: str) -> bool:
    """True for pipedag's and Stagehouse's bookkeeping and storage schemas and the SQL catalog."""
    return name in INTERNAL_SCHEMAS or name.endswith(INTERNAL_SUFFIXES)


class MetadataVerbs:
    """Metadata and saved queries, mixed into ``SqlConnection``."""

    name: str
    engine: sa.Engine

    def list_databases(self) -> list[str]:
        """The databases of the server (DuckDB: the attached ones)."""
        queries = {
            "postgresql": "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
            "duckdb": "SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1",
            "mysql": "SELECT schema_name FROM information_schema.schemata ORDER BY 1",
            "mariadb": "SELECT schema_name FROM information_schema.schemata ORDER BY 1",
        }
        query = queries.get(self.engine.dialect.name)
        if query is None:
            return [self.engine.url.database] if self.engine.url.database else []
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query)).scalars())

    def list_schemas(self, *, internal: bool = False) -> list[str]:
        """The schemas of this database. pipedag's own (a stage's ``__even``/``__odd``/``__tmp``
        copies, ``pipedag_metadata``), Stagehouse's (``stagehouse_meta``, ``stagehouse_versions``)
        and the SQL catalog are left out unless ``internal=True``: a user reads the stages.

        Example: ``wh.list_schemas()`` → ``['mart', 'public', 'raw']``"""
        query = SCHEMA_QUERIES.get(self.engine.dialect.name)
        if query is None:
            schemas = sa.inspect(self.engine).get_schema_names()
        else:
            with self.engine.connect() as conn:
                schemas = conn.execute(sa.text(query)).scalars().all()
        return sorted(s for s in schemas if internal or not is_internal_schema(s))

    def list_tables(self, schema: str | None = None) -> list[dict[str, str]]:
        """Tables and views (``type`` 'BASE TABLE' or 'VIEW'), of one schema or all."""
        tables = sa.table("tables", sa.column("table_schema"), sa.column("table_name"), sa.column("table_type"), schema="information_schema")
        query = sa.select(tables.c.table_schema, tables.c.table_name, tables.c.table_type).order_by(tables.c.table_schema, tables.c.table_name)
        if schema:
            query = query.where(tables.c.table_schema == checked(self.name, "schema", schema))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"schema": s, "name": n, "type": t} for s, n, t in rows]

    def get_table(self, schema: str | None, table: str) -> dict[str, Any]:
        """Name, description, primary key and fields (name, type, nullable, primary_key, description)."""
        schema, table = split_table(self.name, table, schema)
        schema = schema or self.engine.dialect.default_schema_name
        query = sa.text(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
        )
        with self.engine.connect() as conn:
            columns = conn.execute(query, {"schema": schema, "table": table}).all()
        if not columns:
            raise WarehouseError(self.name, f"table '{schema}.{table}'", "does not exist (refresh() after outside changes)")
        key = primary_key_of(self.engine, schema, table)
        table_comment, column_comments = self._comments(schema, table)
        fields = [
            {"name": n, "type": t, "nullable": nullable == "YES", "primary_key": n in key, "description": column_comments.get(n)}
            for n, t, nullable in columns
        ]
        return {"schema": schema, "name": table, "description": table_comment, "primary_key": list(key), "fields": fields}

    def _comments(self, schema: str, table: str) -> tuple[str | None, dict[str, str]]:
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "duckdb":
                table_comment = conn.execute(
                    sa.text("SELECT comment FROM duckdb_tables() WHERE schema_name = :s AND table_name = :t "
                            "UNION ALL SELECT comment FROM duckdb_views() WHERE schema_name = :s AND view_name = :t"),
                    {"s": schema, "t": table},
                ).scalar()
                rows = conn.execute(
                    sa.text("SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = :s AND table_name = :t"),
                    {"s": schema, "t": table},
                ).all()
                return table_comment, {n: c for n, c in rows if c}
        inspector = sa.inspect(self.engine)
        table_comment = inspector.get_table_comment(table, schema=schema).get("text")
        return table_comment, {c["name"]: c["comment"] for c in inspector.get_columns(table, schema=schema) if c.get("comment")}

    def update_table(self, schema: str | None, table: str, description: str) -> None:
        """Set the table's description (``COMMENT ON TABLE``)."""
        schema, table = split_table(self.name, table, schema)
        target = sa.Table(table, sa.MetaData(), comment=description, schema=schema)
        self._ddl(sa.schema.SetTableComment(target))

    def update_field(self, schema: str | None, table: str, field: str, description: str) -> None:
        """Set a column's description (``COMMENT ON COLUMN``)."""
        schema, table = split_table(self.name, table, schema)
        column = sa.Column(checked(self.name, "column", field), comment=description)
        sa.Table(table, sa.MetaData(), column, schema=schema)
        self._ddl(sa.schema.SetColumnComment(column))

    def refresh(self) -> None:
        """Forget pooled connections and cached metadata, e.g. after another tool changed tables."""
        self.engine.dispose()

    def add_query(self, schema: str, name: str, sql: str, *, as_view: bool = True) -> None:
        """Save ``sql`` as a view (or a materialized table) ``schema.name``; an error if it exists."""
        self._save_query(schema, name, sql, as_view, replace=False)

    def upsert_query(self, schema: str, name: str, sql: str, *, as_view: bool = True) -> None:
        """Save or replace the query ``schema.name`` (a table is rebuilt in one transaction)."""
        self._save_query(schema, name, sql, as_view, replace=True)

    def list_queries(self) -> list[dict[str, Any]]:
        """The saved queries: schema, name, sql, as_view, updated_at."""
        with self.engine.connect() as conn:
            if not _has_table(conn, META_SCHEMA, "saved_queries"):
                return []
            return [dict(r) for r in conn.execute(sa.select(SAVED_QUERIES).order_by(SAVED_QUERIES.c.schema, SAVED_QUERIES.c.name)).mappings()]

    def _save_query(self, schema: str, name: str, sql: str, as_view: bool, replace: bool) -> None:
        schema, name = checked(self.name, "schema", schema), checked(self.name, "table", name)
        quote = self.engine.dialect.identifier_preparer.quote
        target = f"{quote(schema)}.{quote(name)}"
        with self.engine.begin() as conn:
            exists = _has_table(conn, schema, name)
            if exists and not replace:
                raise WarehouseError(self.name, f"query '{schema}.{name}'", "already exists; use upsert_query to replace it")
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            conn.execute(sa.schema.CreateSchema(META_SCHEMA, if_not_exists=True))
            SAVED_QUERIES.create(conn, checkfirst=True)
            if exists:
                kind = "VIEW" if _is_view(conn, schema, name) else "TABLE"
                conn.execute(sa.text(f"DROP {kind} {target}"))
            try:
                conn.execute(sa.text(f"CREATE {'VIEW' if as_view else 'TABLE'} {target} AS {sql}"))
            except sa.exc.SQLAlchemyError as exc:
                raise WarehouseError(self.name, f"query '{schema}.{name}'", first_line(exc)) from exc
            conn.execute(sa.delete(SAVED_QUERIES).where(SAVED_QUERIES.c.schema == schema, SAVED_QUERIES.c.name == name))
            conn.execute(sa.insert(SAVED_QUERIES).values(schema=schema, name=name, sql=sql, as_view=as_view, updated_at=dt.datetime.now(dt.UTC)))

    def _ddl(self, statement: sa.schema.ExecutableDDLElement) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(self.name, "metadata", first_line(exc)) from exc


SAVED_QUERIES = sa.Table(
    "saved_queries",
    sa.MetaData(),
    sa.Column("schema", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("as_view", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    schema=META_SCHEMA,
)


def _has_table(conn: sa.Connection, schema: str, name: str) -> bool:
    query = sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = :n")
    return conn.execute(query, {"s": schema, "n": name}).first() is not None


def _is_view(conn: sa.Connection, schema: str, name: str) -> bool:
    query = sa.text("SELECT table_type FROM information_schema.tables WHERE table_schema = :s AND table_name = :n")
    return conn.execute(query, {"s": schema, "n": name}).scalar() == "VIEW"
