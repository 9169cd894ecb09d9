"""The warehouse client's read and write verbs on any SQL connection (the table store included).

``fetch`` returns records or a DataFrame, with the edits of the change log layered on top;
``insert``/``update``/``upsert`` change single rows of a table (a view, such as a merge sync's
stage table, is refused); ``execute`` runs any statement. The bulk ``write`` is in
``connectors.sql.bulk``. Every name passes ``identifiers.checked`` and is quoted by SQLAlchemy.

Example::

    wh = connect("warehouse")
    rows = wh.fetch("raw", "customers", fillna_with="")
    frame = wh.fetch(query="SELECT country, count(*) AS n FROM raw.customers GROUP BY 1", df=True)
    wh.upsert("crm", "notes", 7, {"text": "call back"})
    wh.insert(DW_NAME, "crm", "notes", {"id": 8, "text": "new"})   # Peliqan's form, database first
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError, first_line
from stagehouse.connectors.sql.described import described_table, relation_kind
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.identifiers import checked_table, dotted
from stagehouse.connectors.sql.shapes import shaped

NEVER_ADDS = "write() adds columns, insert/update/upsert never do"


class WarehouseVerbs:
    """fetch/insert/update/upsert/execute, mixed into ``SqlConnection`` (a source and the warehouse)."""

    name: str

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    overlaid: Callable[
        [sa.Table], sa.Select | sa.CompoundSelect
    ]  # ChangeVerbs on the warehouse: edits layered on reads
    key_of: Callable[
        [str | None, str], list[str]
    ]  # SchemaReads: the database's key (MetadataVerbs: or the declared one)
    database_name: Callable[[], str]  # SchemaReads
    no_table: Callable[[str | None, str], str]  # SchemaReads: why a table is not found
    check_columns: Callable[..., None]  # SchemaReads: unknown column names, with close ones

    def table(self, schema: str | None, table: str) -> sa.Table:
        """The existing table or view ``schema.table``; WarehouseError when there is none."""
        schema, table = checked_table(self.name, table, schema)
        found = described_table(self.engine, schema, table)
        if found is None:
            raise WarehouseError(self.name, f"table '{dotted(schema, table)}'", self.no_table(schema, table))
        return found

    def check_database(self, verb: str, database: Any) -> None:
        """Refuse a database argument (Peliqan's first one) that is not this connection's: a
        script meant for another database must not change this one.

        Example: ``wh.check_database("insert", DW_NAME)`` passes; ``"dw_123"`` raises WarehouseError."""
        own = list(dict.fromkeys((self.name, self.database_name())))
        if database not in own:
            raise WarehouseError(
                self.name,
                verb,
                f"'{database}' is not this connection's database; pass {' or '.join(map(repr, own))} first, or leave "
                "the database out",
            )

    def _database_first(self, verb: str, given: tuple, extra: tuple) -> tuple:
        """Our arguments from a call in our form (``given``) or Peliqan's, which passes the
        database first and so one positional argument more (``extra``): checked, then dropped."""
        if not extra:
            return given
        if len(extra) > 1:
            raise WarehouseError(
                self.name, verb, f"takes the database and {len(given)} arguments at most, not {len(given) + len(extra)}"
            )
        self.check_database(verb, given[0])
        return (*given[1:], extra[0])

    def arrow(self, statement: sa.Executable | str) -> pa.Table:
        """Run a query and return the whole result as an Arrow table (DuckDB and ADBC natively)."""
        dialect = dialect_of(self.engine)  # outside the try: a store that cannot open says so itself
        if isinstance(statement, str):
            sql = statement
        else:
            assert isinstance(statement, sa.ClauseElement)  # every statement is one
            sql = str(statement.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        try:
            return dialect.arrow(self.engine, sql)
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

    def execute(
        self, sql: str | None = None, params: Mapping[str, Any] | None = None, *, query: str | None = None
    ) -> list[dict[str, Any]] | int:
        """Run one statement: a query's rows as dicts, else the number of rows it changed (0 for DDL).

        Peliqan's ``execute(DW_NAME, query="TRUNCATE TABLE crm.notes")`` works too (the database checked).
        """
        if query is not None:
            if sql is not None:
                self.check_database("execute", sql)
            sql = query
        if sql is None:
            raise WarehouseError(
                self.name, "execute", "no statement given; pass execute(sql) or execute(DW_NAME, query=sql)"
            )
        try:
            statement = sa.text(sql).bindparams(**params) if params else sa.text(sql)
            with self.engine.begin() as conn:
                dialect = dialect_of(conn)
                answer = dialect.driver_answer(conn, statement)
                if answer == "count":
                    return dialect.affected_rows(conn, statement)
                result = conn.execute(statement)
                if answer == "none" or not result.returns_rows:
                    return max(result.rowcount, 0)  # DDL: no rows, none changed (drivers say -1)
                return [dict(r) for r in result.mappings()]
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(self.name, "execute", first_line(exc)) from exc

    def insert(
        self, schema: str | None, table: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]], *peliqan: Any
    ) -> int:
        """Insert one record or many; a key that is not a column is an error (no column is added).
        Peliqan's ``insert(DW_NAME, schema, table, record)`` works too."""
        schema, table, records = self._database_first("insert", (schema, table, records), peliqan)
        target = self._writable(self.table(schema, table))
        rows = [dict(records)] if isinstance(records, Mapping) else [dict(r) for r in records]
        for row in rows:
            self.check_columns(target, row, fix=NEVER_ADDS)
        if rows:
            self._run(target, sa.insert(target), rows)
        return len(rows)

    def update(
        self,
        schema: str | None,
        table: str,
        pk_value: Any,
        record: Mapping[str, Any],
        *peliqan: Any,
        pk: str | None = None,
    ) -> bool:
        """Change the columns in ``record`` of the row whose key is ``pk_value``; False if it
        already held those values (no write), WarehouseError if there is no such row.
        Peliqan's ``update(DW_NAME, schema, table, pk_value, record)`` works too."""
        schema, table, pk_value, record = self._database_first("update", (schema, table, pk_value, record), peliqan)
        target = self._writable(self.table(schema, table))
        key = self._key(target, pk)
        changed = self._update_row(target, key, pk_value, record)
        if not changed and not self._exists(target, key, pk_value):
            raise WarehouseError(
                self.name, f"table '{dotted(target.schema, target.name)}'", f"no row with {key} = {pk_value!r}"
            )
        return changed

    def upsert(
        self,
        schema: str | None,
        table: str,
        pk_value: Any,
        record: Mapping[str, Any],
        *peliqan: Any,
        pk: str | None = None,
    ) -> str:
        """Update the row ``pk_value`` (columns not passed are kept) or insert it; never adds a
        column. Returns 'inserted', 'updated' or 'unchanged'. Peliqan's
        ``upsert(DW_NAME, schema, table, pk_value, record)`` works too."""
        schema, table, pk_value, record = self._database_first("upsert", (schema, table, pk_value, record), peliqan)
        target = self._writable(self.table(schema, table))
        key = self._key(target, pk)
        if self._update_row(target, key, pk_value, record):
            return "updated"
        if self._exists(target, key, pk_value):
            return "unchanged"
        self._run(target, sa.insert(target), [{**record, key: pk_value}])
        return "inserted"

    def _key(self, target: sa.Table, pk: str | None) -> str:
        if pk is not None:
            if pk not in target.c:
                raise WarehouseError(
                    self.name, f"table '{dotted(target.schema, target.name)}'", f"no column '{pk}' to use as key"
                )
            return pk
        keys = self.key_of(target.schema, target.name)
        if len(keys) > 1:
            raise WarehouseError(
                self.name,
                f"table '{dotted(target.schema, target.name)}'",
                f"is keyed by several columns ({', '.join(keys)}), which an edit cannot name yet; pass pk= a "
                "column whose values are unique on their own",
            )
        if not keys:
            raise WarehouseError(
                self.name,
                f"table '{dotted(target.schema, target.name)}'",
                "has no single-column primary key (in the database or declared by its sync or transform); pass "
                "pk='column'",
            )
        return keys[0]

    def _update_row(self, target: sa.Table, key: str, pk_value: Any, record: Mapping[str, Any]) -> bool:
        self.check_columns(target, record, fix=NEVER_ADDS)
        values = {c: v for c, v in record.items() if c != key}
        if not values:
            return False
        differs = sa.or_(*(target.c[c].is_distinct_from(sa.literal(v)) for c, v in values.items()))
        with self._refused(target), self.engine.begin() as conn:
            return (
                dialect_of(conn).affected_rows(
                    conn, sa.update(target).where(target.c[key] == pk_value, differs).values(values)
                )
                > 0
            )

    def _exists(self, target: sa.Table, key: str, pk_value: Any) -> bool:
        with self._refused(target), self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(sa.literal(1)).select_from(target).where(target.c[key] == pk_value).limit(1)
                ).first()
                is not None
            )

    def _run(self, target: sa.Table, statement: sa.Executable, rows: list[dict[str, Any]]) -> None:
        with self._refused(target), self.engine.begin() as conn:
            conn.execute(statement, rows)

    @contextmanager
    def _refused(self, target: sa.Table) -> Iterator[None]:
        """A database error of a statement on ``target`` as a one-line WarehouseError naming it."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(self.name, f"table '{dotted(target.schema, target.name)}'", first_line(exc)) from exc

    def _writable(self, target: sa.Table) -> sa.Table:
        """``target`` unless it is a view: a merge or incremental sync's stage table is a view of
        the sync's data, and a write through it (PostgreSQL allows one) would change the synced
        rows behind the change log's back, never written back nor undone by the next sync."""
        if relation_kind(self.engine, target.schema, target.name) == "VIEW":
            raise WarehouseError(
                self.name,
                f"table '{dotted(target.schema, target.name)}'",
                "is a view (a synced stage table is a view of the sync's data): record edits with "
                "update_cell/insert_row/delete_row (change log)",
            )
        return target
