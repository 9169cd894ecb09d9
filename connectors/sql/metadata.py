"""The warehouse client's metadata verbs: databases, schemas, tables, fields with descriptions
(real database comments, kept in ``stagehouse_meta.catalog`` so they survive stage reruns); saved
queries are in ``saved_queries``. Objects have stable ids, so Peliqan's
id-based calls (``get_table(table_id=…)``, ``update_field(field_id=…, description=…)``) work.

Example::

    wh = connect("warehouse")
    wh.list_tables("raw")                      # [{'schema': 'raw', 'name': 'orders', 'type': 'VIEW'}, ...]
    wh.get_table("raw", "orders")["fields"]    # [{'id': 12, 'name': 'id', 'type': 'BIGINT', ...}]
    wh.update_field("crm", "contacts", "email", "Primary e-mail, lower case")
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError, first_line
from stagehouse.connectors.sql import catalog
from stagehouse.connectors.sql.catalog import META_SCHEMA, Ref
from stagehouse.connectors.sql.described import described_table, primary_key_of
from stagehouse.connectors.sql.descriptions import descriptions
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.identifiers import checked, checked_table, dotted
from stagehouse.connectors.sql.near_names import no_columns, some_names

__all__ = ["META_SCHEMA", "MetadataVerbs", "SchemaReads", "no_columns"]

SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")

VERSIONS_SCHEMA = "stagehouse_versions"  # the rows behind incremental stage tables (tasks/versioned/)
INTERNAL_SCHEMAS = frozenset({"pipedag_metadata", META_SCHEMA, VERSIONS_SCHEMA, "information_schema"})
INTERNAL_SUFFIXES = ("__even", "__odd", "__tmp", "__swap")  # pipedag's copies of a stage


def is_internal_schema(name: str) -> bool:
    """True for pipedag's and Stagehouse's bookkeeping and storage schemas and the SQL catalog."""
    return name in INTERNAL_SCHEMAS or name.endswith(INTERNAL_SUFFIXES)


class SchemaReads:
    """What any SQL database tells of itself from its own catalog: schemas, tables, a table's
    key and columns. Nothing here writes, so a source database gets these too (``SqlConnection``)."""

    name: str

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    def list_schemas(self, *, internal: bool = False) -> list[str]:
        """The schemas of this database. pipedag's own (a stage's ``__even``/``__odd``/``__tmp``
        copies, ``pipedag_metadata``), Stagehouse's (``stagehouse_meta``, ``stagehouse_versions``)
        and the SQL catalog are left out unless ``internal=True``: a user reads the stages.

        Example: ``wh.list_schemas()`` → ``['mart', 'public', 'raw']``"""
        query = dialect_of(self.engine).schemas_query()
        if query is None:
            schemas: Sequence[str] = sa.inspect(self.engine).get_schema_names()
        else:
            with self.engine.connect() as conn:
                schemas = conn.execute(sa.text(query)).scalars().all()
        return sorted(s for s in schemas if internal or not is_internal_schema(s))

    def list_tables(self, schema: str | None = None, *, internal: bool = False) -> list[dict[str, str]]:
        """Tables and views (``type`` 'BASE TABLE' or 'VIEW'), of one schema or all; with no schema
        named, the internal schemas are left out as ``list_schemas`` leaves them (``internal=True``
        keeps them)."""
        tables = sa.table(
            "tables",
            sa.column("table_schema"),
            sa.column("table_name"),
            sa.column("table_type"),
            schema="information_schema",
        )
        query = sa.select(tables.c.table_schema, tables.c.table_name, tables.c.table_type).order_by(
            tables.c.table_schema, tables.c.table_name
        )
        if schema:
            query = query.where(tables.c.table_schema == checked(self.name, "schema", schema))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        keep = internal or schema is not None
        return [
            {"schema": s, "name": n, "type": t}
            for s, n, t in rows
            if keep or not (is_internal_schema(s) or s in SYSTEM_SCHEMAS)
        ]

    def key_of(self, schema: str | None, table: str) -> list[str]:
        """The primary key constraint of ``schema.table`` (empty when it has none)."""
        return primary_key_of(self.engine, schema, table)

    def no_table(self, schema: str | None, table: str) -> str:
        """Why ``schema.table`` is not found, for a one-line error: no such schema, or the close
        names that exist, and the schemas there are.

        Example: ``wh.no_table("crm", "contact")`` →
        ``"does not exist; did you mean crm.contacts? (schemas: crm, raw)"``"""
        if schema is not None and schema not in self.list_schemas(internal=True):
            return f"no schema '{schema}' (schemas: {some_names(self.list_schemas())})"
        tables = [(t["schema"], t["name"]) for t in self.list_tables()]
        names = {(f"{s}.{n}" if schema else n): f"{s}.{n}" for s, n in tables}
        close = [names[m] for m in difflib.get_close_matches(dotted(schema, table), list(names), n=3)]
        return (
            f"does not exist{'; did you mean ' + ' or '.join(close) + '?' if close else ''} (schemas: "
            f"{some_names(self.list_schemas())})"
        )

    def check_columns(self, table: sa.Table, names: Iterable[str], fix: str = "") -> None:
        """Refuse the ``names`` that are not columns of ``table`` (an ``sa.Table`` as ``table()``
        returns it) with one line naming them, the close columns and, if given, the ``fix``.

        Example: ``wh.check_columns(base, ["nme"])`` → WarehouseError ``connection 'warehouse',
        table 'crm.contacts': no column 'nme'; did you mean name? (columns: id, name)``"""
        unknown = [n for n in names if n not in table.c]
        if unknown:
            problem = no_columns(unknown, table.c.keys())
            raise WarehouseError(
                self.name, f"table '{dotted(table.schema, table.name)}'", f"{problem}; {fix}" if fix else problem
            )

    def database_name(self) -> str:
        """The database's name, as ``list_databases``/``get_database`` give it and Peliqan's
        database-first calls may pass it: a server's database, a file's stem (DuckDB's own name
        for it), the instance id for the table store (``StoreConnection``)."""
        database = self.engine.url.database
        if database and dialect_of(self.engine).capabilities.file_database:
            return Path(database).stem
        return database or self.name


class MetadataVerbs(SchemaReads):
    """Metadata with stable ids and kept descriptions: the warehouse client's (``StoreConnection``),
    since they keep their state in its ``stagehouse_meta`` schema (saved queries:
    ``connectors.sql.saved_queries``)."""

    name: str

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    def list_databases(self) -> list[dict[str, Any]]:
        """The connection's database in Peliqan's shape: ``[{id, name, description, schemas: [{id,
        name}], tables: [{id, name, schema_id, schema, type}]}]`` (a connection is one database)."""
        tables = [t for t in self.list_tables() if t["schema"] not in SYSTEM_SCHEMAS]
        schemas = sorted({t["schema"] for t in tables})
        ids = self._ids([Ref()] + [Ref(s) for s in schemas] + [Ref(t["schema"], t["name"]) for t in tables])
        database = self.get_database()
        return [
            {
                **database,
                "schemas": [{"id": ids[Ref(s)], "name": s} for s in schemas],
                "tables": [
                    {
                        "id": ids[Ref(t["schema"], t["name"])],
                        "name": t["name"],
                        "schema_id": ids[Ref(t["schema"])],
                        "schema": t["schema"],
                        "type": t["type"],
                    }
                    for t in tables
                ],
            }
        ]

    def get_database(self, database_id: int | None = None) -> dict[str, Any]:
        """The connection's database: id, name, description (``database_id`` must be its id)."""
        self._resolve("database", database_id, Ref())
        return {
            "id": self._ids([Ref()])[Ref()],
            "name": self.database_name(),
            "description": self._described(Ref(), {}),
        }

    def update_database(self, database_id: int | None = None, *, description: str | None) -> dict[str, Any]:
        """Set the database's description (``COMMENT ON DATABASE``; PostgreSQL only)."""
        self._describe(self._resolve("database", database_id, Ref()), description)
        return self.get_database()

    def get_schema(self, schema: str | None = None, *, schema_id: int | None = None) -> dict[str, Any]:
        """A schema by name or id: id, name, description, tables [{id, name, type}]."""
        ref = self._resolve(
            "schema", schema_id, Ref(checked(self.name, "schema", schema)) if schema is not None else None
        )
        tables = self.list_tables(ref.schema)
        if not tables and ref.schema not in self.list_schemas():
            raise WarehouseError(self.name, f"schema '{ref.schema}'", "does not exist (list_schemas() lists them)")
        ids = self._ids([ref] + [Ref(ref.schema, t["name"]) for t in tables])
        return {
            "id": ids[ref],
            "name": ref.schema,
            "description": self._described(ref, {"s": ref.schema}),
            "tables": [{"id": ids[Ref(ref.schema, t["name"])], "name": t["name"], "type": t["type"]} for t in tables],
        }

    def update_schema(
        self,
        schema: str | None = None,
        *,
        schema_id: int | None = None,
        description: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Set a schema's description (``COMMENT ON SCHEMA``; PostgreSQL only). Renaming is refused:
        a stage's schema is named by its flow."""
        ref = self._resolve(
            "schema", schema_id, Ref(checked(self.name, "schema", schema)) if schema is not None else None
        )
        if name is not None and name != ref.schema:
            raise WarehouseError(
                self.name,
                f"schema '{ref.schema}'",
                "cannot be renamed here (a stage's schema is named by its flow: rename the Stage)",
            )
        self._describe(ref, description)
        return self.get_schema(ref.schema)

    def get_table(
        self, schema: str | None = None, table: str | None = None, *, table_id: int | None = None
    ) -> dict[str, Any]:
        """Id, name, description, primary key (the database's, else the one its sync or transform
        declared) and fields (id, name, type, nullable, primary_key, description). ``all_fields``
        and ``is_pk`` are Peliqan's names for ``fields`` and ``primary_key``; Peliqan's positional
        ``get_table(table_id)`` works too."""
        if isinstance(schema, int) and table is None and table_id is None:
            schema, table_id = None, schema
        ref = self._resolve("table", table_id, self._table_ref(schema, table) if table is not None else None)
        query = sa.text(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position"
        )
        with self.engine.connect() as conn:
            columns = conn.execute(query, {"schema": ref.schema, "table": ref.table}).all()
            description, described = descriptions(conn, ref.schema, ref.table) if columns else (None, {})
        if not columns:
            raise WarehouseError(self.name, f"table '{ref.schema}.{ref.table}'", self.no_table(ref.schema, ref.table))
        key = self.key_of(ref.schema, ref.table)
        ids = self._ids([ref] + [ref._replace(field=n) for n, *_ in columns])
        fields = [
            {
                "id": ids[ref._replace(field=n)],
                "name": n,
                "type": t,
                "nullable": nullable == "YES",
                "primary_key": n in key,
                "is_pk": n in key,
                "description": described.get(n),
            }
            for n, t, nullable in columns
        ]
        return {
            "id": ids[ref],
            "schema": ref.schema,
            "name": ref.table,
            "description": description,
            "primary_key": key,
            "fields": fields,
            "all_fields": fields,
        }

    def key_of(self, schema: str | None, table: str) -> list[str]:
        """The primary key of ``schema.table``: the database's constraint, else the key its sync or
        transform declared (DuckDB stage tables and merge views have no constraint)."""
        key = primary_key_of(self.engine, schema, table)
        if key or not dialect_of(self.engine).capabilities.keeps_catalog:
            return key
        with self.engine.connect() as conn:
            return catalog.declared_key(conn, schema or self.engine.dialect.default_schema_name or "", table)

    def descriptions(self, schema: str, table: str, *, fields: bool = True) -> tuple[str | None, dict[str, str]]:
        """The description of ``schema.table`` and, with ``fields``, of its described columns, as
        ``get_table`` gives them, without ids, types or key: what a page shows beside the rows.

        Example: ``wh.descriptions("raw", "orders", fields=False)`` → ``('Orders of the shop', {})``"""
        with self.engine.connect() as conn:
            return descriptions(conn, schema, table, fields=fields)

    def update_table(
        self,
        schema: str | None = None,
        table: str | None = None,
        description: str | None = None,
        *,
        table_id: int | None = None,
    ) -> dict[str, Any]:
        """Set the table's description (``COMMENT ON TABLE``, re-applied after every stage commit);
        returns the table as ``get_table`` does (Peliqan returns its metadata)."""
        ref = self._resolve("table", table_id, self._table_ref(schema, table) if table is not None else None)
        self._describe(ref, description)
        return self.get_table(ref.schema, ref.table)

    def update_field(
        self,
        schema: str | None = None,
        table: str | None = None,
        field: str | None = None,
        description: str | None = None,
        *,
        field_id: int | None = None,
    ) -> dict[str, Any]:
        """Set a column's description (``COMMENT ON COLUMN``, re-applied after every stage commit);
        returns the field as in ``get_table``'s ``fields`` (Peliqan returns its metadata)."""
        ref = (
            self._table_ref(schema, table)._replace(field=checked(self.name, "column", field))
            if field is not None
            else None
        )
        ref = self._resolve("field", field_id, ref)
        self._describe(ref, description)
        return next(f for f in self.get_table(ref.schema, ref.table)["fields"] if f["name"] == ref.field)

    def _table_ref(self, schema: str | None, table: str | None) -> Ref:
        schema, table = checked_table(self.name, table or "", schema)
        return Ref(schema or self.engine.dialect.default_schema_name or "", table)

    def _resolve(self, kind: str, object_id: int | None, named: Ref | None) -> Ref:
        """The object named, or the one ``object_id`` stands for; exactly one of them."""
        if kind == "database":
            named = None if object_id is not None else Ref()
        if (object_id is None) == (named is None):
            raise WarehouseError(self.name, kind, f"give its name or {kind}_id=, not both")
        if named is not None:
            return named
        keeps_catalog = dialect_of(self.engine).capabilities.keeps_catalog
        ref = catalog.ref_of(self.engine, object_id) if keeps_catalog and object_id is not None else None
        if ref is None or ref.kind != kind:
            raise WarehouseError(
                self.name,
                f"{kind} id {object_id}",
                "does not exist (ids come from list_databases(), get_schema() and get_table())",
            )
        return ref

    def _ids(self, refs: list[Ref]) -> Mapping[Ref, int | None]:
        """Stable ids from the catalog (None on stores without one)."""
        if not dialect_of(self.engine).capabilities.keeps_catalog:
            return dict.fromkeys(refs)
        return catalog.ids_of(self.engine, refs)

    def _described(self, ref: Ref, params: dict[str, str]) -> str | None:
        """The database's comment on ``ref`` (a database or schema, where the store has them), else the kept
        description."""
        with self.engine.connect() as conn:
            query = dialect_of(conn).comment_query(ref.kind)
            comment = conn.execute(sa.text(query), params).scalar() if query else None
            kept = catalog.kept_description(conn, ref)
        return comment or kept

    def _describe(self, ref: Ref, description: str | None) -> None:
        """Comment on ``ref`` now and keep the description for later stage commits."""
        label = {
            "database": f"database '{self.database_name()}'",
            "schema": f"schema '{ref.schema}'",
            "table": f"table '{ref.schema}.{ref.table}'",
            "field": f"field '{ref.schema}.{ref.table}.{ref.field}'",
        }[ref.kind]
        dialect = dialect_of(self.engine)
        if ref.kind not in dialect.capabilities.describable_kinds:
            raise WarehouseError(
                self.name,
                label,
                f"{dialect.name} has no {ref.kind} descriptions (COMMENT ON {ref.kind.upper()} is not supported there)",
            )
        try:
            with self.engine.begin() as conn:
                statement = catalog.comment_statement(conn, ref, description)
                if statement is not None:
                    conn.execute(sa.text(statement))
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(self.name, label, first_line(exc)) from exc
        if statement is None:  # a table or field that does not exist (now)
            table = described_table(self.engine, ref.schema, ref.table)
            if table is None:
                raise WarehouseError(
                    self.name, f"table '{ref.schema}.{ref.table}'", self.no_table(ref.schema, ref.table)
                )
            self.check_columns(table, [ref.field])
        if dialect.capabilities.keeps_catalog:
            catalog.describe(self.engine, ref, description)

    def refresh(self) -> None:
        """Forget pooled connections and cached metadata, e.g. after another tool changed tables."""
        self.engine.dispose()
