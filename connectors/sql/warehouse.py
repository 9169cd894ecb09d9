"""The warehouse client's read and write verbs on any SQL connection (the table store included).

``fetch`` returns records or a DataFrame, with the edits of the change log layered on top;
``insert``/``update``/``upsert`` change single rows; ``write`` is the bulk load of a pipeline:
create the table and any missing column, then upsert by primary key in two set-based statements
from a staging table filled by the store's bulk path, leaving unchanged rows untouched. Every
name passes ``identifiers.checked`` and is quoted by SQLAlchemy.

Example::

    wh = connect("warehouse")
    rows = wh.fetch("raw", "customers", fillna_with="")
    frame = wh.fetch(query="SELECT country, count(*) AS n FROM raw.customers GROUP BY 1", df=True)
    wh.upsert("crm", "notes", 7, {"text": "call back"})
    wh.write("crm", "contacts", records, pk="id")   # {'inserted': 10, 'updated': 2, 'unchanged': 88}
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from connectors.errors import StagehouseError, WarehouseError, first_line
from connectors.sql.identifiers import checked, split_table
from connectors.sql.load_types import arrow_schema_from_object_schema, sql_type
from connectors.sql.metadata import is_internal_schema
from connectors.sql.native import adbc_bulk_connection, adbc_uri, affected_rows, answers_with_count, described_table, quoted_name
from connectors.sql.shapes import shaped

BULK_DIALECTS = ("duckdb", "postgresql")


class WarehouseVerbs:
    """fetch/insert/update/upsert/write/execute, mixed into ``SqlConnection``."""

    name: str
    engine: sa.Engine
    overlaid: Callable[[sa.Table], sa.Select | sa.CompoundSelect]  # ChangeVerbs: edits layered on reads
    key_of: Callable[[str | None, str], list[str]]  # MetadataVerbs: the database's or the declared key
    list_schemas: Callable[..., list[str]]  # MetadataVerbs
    list_tables: Callable[..., list[dict[str, str]]]
    database_name: Callable[[], str]  # MetadataVerbs

    def table(self, schema: str | None, table: str) -> sa.Table:
        """The existing table or view ``schema.table``; WarehouseError when there is none."""
        schema, table = split_table(self.name, table, schema)
        found = described_table(self.engine, schema, table)
        if found is None:
            raise WarehouseError(self.name, f"table '{_label(schema, table)}'", self._absent(schema, table))
        return found

    def _absent(self, schema: str | None, table: str) -> str:
        """Why ``schema.table`` is not found: no such schema, or the close names that exist."""
        if schema is not None and schema not in self.list_schemas(internal=True):
            return f"no schema '{schema}' (schemas: {_some(self.list_schemas())})"
        tables = [(t["schema"], t["name"]) for t in self.list_tables() if not is_internal_schema(t["schema"])]
        names = {(f"{s}.{n}" if schema else n): f"{s}.{n}" for s, n in tables}
        close = [names[m] for m in difflib.get_close_matches(_label(schema, table), list(names), n=3)]
        return f"does not exist{'; did you mean ' + ' or '.join(close) + '?' if close else ''} (schemas: {_some(self.list_schemas())})"

    def check_database(self, verb: str, database: Any) -> None:
        """Refuse a database argument (Peliqan's first one) that is not this connection's: a
        script meant for another database must not change this one.

        Example: ``wh.check_database("insert", DW_NAME)`` passes; ``"dw_123"`` raises WarehouseError."""
        own = list(dict.fromkeys((self.name, self.database_name())))
        if database not in own:
            raise WarehouseError(
                self.name, verb, f"'{database}' is not this connection's database; pass {' or '.join(map(repr, own))} first, or leave the database out",
            )

    def _database_first(self, verb: str, given: tuple, extra: tuple) -> tuple:
        """Our arguments from a call in our form (``given``) or Peliqan's, which passes the
        database first and so one positional argument more (``extra``): checked, then dropped."""
        if not extra:
            return given
        if len(extra) > 1:
            raise WarehouseError(self.name, verb, f"takes the database and {len(given)} arguments at most, not {len(given) + len(extra)}")
        self.check_database(verb, given[0])
        return (*given[1:], extra[0])

    def arrow(self, statement: sa.Executable | str) -> pa.Table:
        """Run a query and return the whole result as an Arrow table (DuckDB and ADBC natively)."""
        dialect = self.engine.dialect.name  # outside the try: a store that cannot open says so itself
        sql = statement if isinstance(statement, str) else str(
            statement.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True})
        )
        try:
            if dialect == "duckdb":
                with self.engine.connect() as conn:
                    return conn.connection.driver_connection.execute(sql).to_arrow_table()
            if dialect == "postgresql":
                import adbc_driver_postgresql.dbapi as adbc

                with adbc.connect(adbc_uri(self.engine)) as conn, conn.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetch_arrow_table()
            with self.engine.connect() as conn:
                result = conn.execute(sa.text(sql))
                return pa.Table.from_pylist([dict(r) for r in result.mappings()])
        except Exception as exc:
            raise WarehouseError(self.name, "query", first_line(exc)) from exc

    def fetch(
        self,
        schema: str | None = None,
        table: str | None = None,
        *peliqan_table: str,
        query: str | None = None,
        overlay: bool = True,
        limit: int | None = None,
        **options: Any,
    ) -> Any:
        """Rows of ``schema.table`` (edits of the change log layered on top) or of ``query``.

        Peliqan's forms, with the database first, work too: ``fetch(DW_NAME, schema, table)`` and
        ``fetch(DW_NAME, query=…)``. Options: ``df=True`` (pandas), ``polars=True``, ``fillna_with``,
        ``fillnat_with``, ``enable_python_types``, ``enable_datetime_as_string``, ``tz`` (see ``shapes``).
        """
        if query is not None and schema is not None and table is None:
            self.check_database("fetch", schema)
            schema = None
        schema, table = self._database_first("fetch", (schema, table), peliqan_table)
        if (table is None) == (query is None):
            raise WarehouseError(self.name, "fetch", "pass a table (schema, table) or query=, not both")
        if query is not None:
            statement: sa.Executable | str = query
        else:
            base = self.table(schema, table)
            statement = self.overlaid(base) if overlay else sa.select(base)
            if limit is not None:
                statement = statement.limit(limit)
        return shaped(self.arrow(statement), **options)

    def execute(self, sql: str | None = None, params: Mapping[str, Any] | None = None, *, query: str | None = None) -> list[dict[str, Any]] | int:
        """Run one statement: a query's rows as dicts, else the number of rows it changed.

        Peliqan's ``execute(DW_NAME, query="TRUNCATE TABLE crm.notes")`` works too (the database checked).
        """
        if query is not None:
            if sql is not None:
                self.check_database("execute", sql)
            sql = query
        if sql is None:
            raise WarehouseError(self.name, "execute", "no statement given; pass execute(sql) or execute(DW_NAME, query=sql)")
        try:
            statement = sa.text(sql).bindparams(**params) if params else sa.text(sql)
            with self.engine.begin() as conn:
                if answers_with_count(conn, statement):
                    return affected_rows(conn, statement)
                result = conn.execute(statement)
                return [dict(r) for r in result.mappings()] if result.returns_rows else result.rowcount
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(self.name, "execute", first_line(exc)) from exc

    def insert(self, schema: str | None, table: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]], *peliqan: Any) -> int:
        """Insert one record or many; a key that is not a column is an error (no column is added).
        Peliqan's ``insert(DW_NAME, schema, table, record)`` works too."""
        schema, table, records = self._database_first("insert", (schema, table, records), peliqan)
        target = self.table(schema, table)
        rows = [dict(records)] if isinstance(records, Mapping) else [dict(r) for r in records]
        for row in rows:
            self._known_columns(target, row)
        if rows:
            self._run(target, sa.insert(target), rows)
        return len(rows)

    def update(self, schema: str | None, table: str, pk_value: Any, record: Mapping[str, Any], *peliqan: Any, pk: str | None = None) -> bool:
        """Change the columns in ``record`` of the row whose key is ``pk_value``; False if it
        already held those values (no write), WarehouseError if there is no such row.
        Peliqan's ``update(DW_NAME, schema, table, pk_value, record)`` works too."""
        schema, table, pk_value, record = self._database_first("update", (schema, table, pk_value, record), peliqan)
        target = self.table(schema, table)
        key = self._key(target, pk)
        changed = self._update_row(target, key, pk_value, record)
        if not changed and not self._exists(target, key, pk_value):
            raise WarehouseError(self.name, f"table '{_label(target.schema, target.name)}'", f"no row with {key} = {pk_value!r}")
        return changed

    def upsert(self, schema: str | None, table: str, pk_value: Any, record: Mapping[str, Any], *peliqan: Any, pk: str | None = None) -> str:
        """Update the row ``pk_value`` (columns not passed are kept) or insert it; never adds a
        column. Returns 'inserted', 'updated' or 'unchanged'. Peliqan's
        ``upsert(DW_NAME, schema, table, pk_value, record)`` works too."""
        schema, table, pk_value, record = self._database_first("upsert", (schema, table, pk_value, record), peliqan)
        target = self.table(schema, table)
        key = self._key(target, pk)
        if self._update_row(target, key, pk_value, record):
            return "updated"
        if self._exists(target, key, pk_value):
            return "unchanged"
        self._run(target, sa.insert(target), [{**record, key: pk_value}])
        return "inserted"

    def write(
        self,
        schema: str,
        table: str,
        records: Iterable[Mapping[str, Any]] | pa.Table,
        object_schema: Mapping[str, Any] | None = None,
        *,
        pk: str | list[str],
    ) -> dict[str, int]:
        """The pipeline load: cast to ``object_schema`` (JSON-schema ``properties``) if given,
        create the table / missing columns, replace rows by ``pk`` (columns not in the records
        become NULL), skip rows that would not change. Bulk path: staging table + two statements.
        """
        schema, table = split_table(self.name, table, schema)
        keys = [checked(self.name, "column", k) for k in ([pk] if isinstance(pk, str) else pk)]
        data = records if isinstance(records, pa.Table) else _arrow_records(records)
        if object_schema is not None:
            data = _cast(self.name, table, data, arrow_schema_from_object_schema(object_schema))
        for column in data.column_names:
            checked(self.name, "column", column)
        missing_keys = [k for k in keys if k not in data.column_names]
        if missing_keys:
            raise WarehouseError(self.name, f"table '{_label(schema, table)}'", f"records have no primary key field {missing_keys}")
        if self.engine.dialect.name not in BULK_DIALECTS:
            raise WarehouseError(self.name, "write", f"bulk write supports {', '.join(BULK_DIALECTS)}, not {self.engine.dialect.name}")
        target = self.ensure_table(schema, table, data.schema, keys)
        stage_name = f"_sh_stage_{uuid.uuid4().hex[:12]}"
        self.land(schema, stage_name, data)
        try:
            return self.merge_from(target, sa.Table(stage_name, sa.MetaData(), *(sa.Column(c) for c in data.column_names), schema=schema), keys)
        finally:
            with self.engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {quoted_name(self.engine, schema, stage_name)}"))

    def ensure_table(self, schema: str | None, table: str, arrow: pa.Schema, keys: list[str]) -> sa.Table:
        """``schema.table`` with a column for every field of ``arrow``: created (``keys`` as its
        primary key) when absent, missing columns added when present. Existing columns stay."""
        existing = described_table(self.engine, schema, table)
        dialect = self.engine.dialect
        with self.engine.begin() as conn:
            if existing is None:
                if schema:
                    conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
                columns = [
                    sa.Column(f.name, sql_type(f.type), primary_key=f.name in keys, nullable=f.name not in keys, autoincrement=False)
                    for f in arrow
                ]
                conn.execute(sa.schema.CreateTable(sa.Table(table, sa.MetaData(), *columns, schema=schema)))
            else:
                for field in arrow:
                    if field.name not in existing.c:
                        column = sa.Column(field.name, sql_type(field.type))
                        ddl = sa.schema.CreateColumn(column).compile(dialect=dialect)
                        conn.execute(sa.text(f"ALTER TABLE {quoted_name(self.engine, schema, table)} ADD COLUMN {ddl}"))
        return described_table(self.engine, schema, table)

    def land(self, schema: str | None, name: str, data: pa.Table | pa.RecordBatchReader) -> None:
        """Create ``schema.name`` from ``data`` by the store's bulk path: DuckDB scans the Arrow
        data itself, PostgreSQL receives it by ADBC's binary COPY. A stream is read batch by batch."""
        try:
            if schema:
                with self.engine.begin() as conn:
                    conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            if self.engine.dialect.name == "duckdb":
                with self.engine.connect() as conn:
                    duck = conn.connection.driver_connection
                    view = f"stagehouse_write_{uuid.uuid4().hex[:8]}"
                    duck.register(view, data)
                    try:
                        duck.execute(f"CREATE TABLE {quoted_name(self.engine, schema, name)} AS SELECT * FROM {view}")
                    finally:
                        duck.unregister(view)
                    conn.commit()
                return
            with adbc_bulk_connection(self.engine) as conn:
                with conn.cursor() as cur:
                    cur.adbc_ingest(name, data, mode="create", db_schema_name=schema)
                conn.commit()
        except StagehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(self.name, f"table '{_label(schema, name)}'", f"bulk load failed: {first_line(exc)}") from exc

    def merge_from(self, target: sa.Table, stage: sa.Table, keys: list[str]) -> dict[str, int]:
        """Upsert the rows of ``stage`` into ``target`` by ``keys`` in one transaction; rows that
        would not change are left alone. Counts of inserted, updated and unchanged rows."""
        values = [c.name for c in target.columns if c.name not in keys]
        incoming = {c.name for c in stage.columns}
        new_value = {c: (stage.c[c] if c in incoming else sa.null()) for c in values}
        matches = sa.and_(*(target.c[k] == stage.c[k] for k in keys))
        differs = sa.or_(*(target.c[c].is_distinct_from(sa.cast(v, target.c[c].type) if c in incoming else v) for c, v in new_value.items())) if values else sa.false()
        with self.engine.begin() as conn:
            duplicate = conn.execute(
                sa.select(*(stage.c[k] for k in keys)).group_by(*(stage.c[k] for k in keys)).having(sa.func.count() > 1).limit(1)
            ).first()
            if duplicate:
                raise WarehouseError(self.name, f"table '{_label(target.schema, target.name)}'", f"records repeat the key {dict(zip(keys, duplicate, strict=True))}")
            total = conn.execute(sa.select(sa.func.count()).select_from(stage)).scalar_one()
            known = conn.execute(sa.select(sa.func.count()).select_from(stage).where(sa.exists().where(matches))).scalar_one()
            updated = affected_rows(conn, sa.update(target).where(matches, differs).values(new_value)) if values else 0
            new_rows = sa.select(*(stage.c[c] for c in stage.columns.keys())).where(~sa.exists().where(matches))
            conn.execute(sa.insert(target).from_select(list(stage.columns.keys()), new_rows))
            inserted = total - known
        return {"inserted": inserted, "updated": updated, "unchanged": total - inserted - updated}

    def _known_columns(self, target: sa.Table, record: Mapping[str, Any]) -> None:
        unknown = [k for k in record if k not in target.c]
        if unknown:
            raise WarehouseError(
                self.name, f"table '{_label(target.schema, target.name)}'",
                f"no column {unknown} (known: {', '.join(target.c.keys())}); write() adds columns, insert/update/upsert never do",
            )

    def _key(self, target: sa.Table, pk: str | None) -> str:
        if pk is not None:
            if pk not in target.c:
                raise WarehouseError(self.name, f"table '{_label(target.schema, target.name)}'", f"no column '{pk}' to use as key")
            return pk
        keys = self.key_of(target.schema, target.name)
        if len(keys) != 1:
            raise WarehouseError(
                self.name, f"table '{_label(target.schema, target.name)}'",
                "has no single-column primary key (in the database or declared by its sync or transform); pass pk='column'",
            )
        return keys[0]

    def _update_row(self, target: sa.Table, key: str, pk_value: Any, record: Mapping[str, Any]) -> bool:
        self._known_columns(target, record)
        values = {c: v for c, v in record.items() if c != key}
        if not values:
            return False
        differs = sa.or_(*(target.c[c].is_distinct_from(sa.literal(v)) for c, v in values.items()))
        with self.engine.begin() as conn:
            return affected_rows(conn, sa.update(target).where(target.c[key] == pk_value, differs).values(values)) > 0

    def _exists(self, target: sa.Table, key: str, pk_value: Any) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.literal(1)).select_from(target).where(target.c[key] == pk_value).limit(1)).first() is not None

    def _run(self, target: sa.Table, statement: sa.Executable, rows: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(statement, rows)
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(self.name, f"table '{_label(target.schema, target.name)}'", first_line(exc)) from exc


def _arrow_records(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Records as an Arrow table with the union of their keys (a key missing in a record is NULL)."""
    rows = [dict(r) for r in records]
    columns = dict.fromkeys(key for row in rows for key in row)
    return pa.table({column: [row.get(column) for row in rows] for column in columns})


def _cast(connection: str, table: str, data: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = {}
    for field in schema:
        if field.name not in data.column_names:
            columns[field.name] = pa.nulls(data.num_rows, field.type)
            continue
        try:
            columns[field.name] = data[field.name].cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise WarehouseError(connection, f"table '{table}'", f"field '{field.name}' does not fit {field.type}: {exc}") from exc
    for name in data.column_names:
        columns.setdefault(name, data[name])
    return pa.table(columns)


def _label(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _some(names: list[str], shown: int = 10) -> str:
    """Up to ``shown`` names for a one-line message, then how many more."""
    more = f", … {len(names) - shown} more" if len(names) > shown else ""
    return (", ".join(names[:shown]) or "none") + more
