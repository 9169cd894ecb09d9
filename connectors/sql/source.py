"""Read tables and queries from a SQL database as a stream of Arrow record batches.

Bulk reads go through DuckDB's scanner for the backend (PostgreSQL COPY, MySQL, SQLite, DuckDB
files); other SQLAlchemy URLs are streamed with a server-side cursor. Small metadata questions
(row counts, primary keys) go to the database itself through SQLAlchemy.

Example::

    shop = connect("shop")
    for batch in shop.read("public.orders"):
        ...
    shop.read(query="SELECT id, total FROM orders WHERE total > 100")
"""

from __future__ import annotations

import time
import uuid
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from stagehouse.connectors.base import Connection, ConnectionConfig
from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.duckdb_scan import (
    DuckDBScan,
    kept_attachment,
    open_duckdb,
    reader_connection,
    stream,
)
from stagehouse.connectors.errors import ConnectionConfigError, SourceError, SourceUnavailableError, first_line
from stagehouse.connectors.placeholders import expand
from stagehouse.connectors.sql.bulk import BulkVerbs
from stagehouse.connectors.sql.config import SqlConnectionConfig
from stagehouse.connectors.sql.declared import declared_lengths, with_lengths
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.engines import engine_for, is_server, ping_server, release_engine
from stagehouse.connectors.sql.exact_numerics import ExactRead, numeric_columns, refused, text_select
from stagehouse.connectors.sql.fingerprint import literal_sql
from stagehouse.connectors.sql.generic import stream_sqlalchemy
from stagehouse.connectors.sql.identifiers import quoted_name, split_table
from stagehouse.connectors.sql.metadata import SchemaReads
from stagehouse.connectors.sql.mysql_dates import MYSQL_BACKENDS, refuse_zero_dates
from stagehouse.connectors.sql.partition_jobs import on_cluster
from stagehouse.connectors.sql.partitioned import partitioned_read, single_key
from stagehouse.connectors.sql.partitioned_copy import PartitionedAppend, PartitionedCopy
from stagehouse.connectors.sql.pg_copy import BACKENDS as COPY_BACKENDS
from stagehouse.connectors.sql.pg_copy import PostgresCopy
from stagehouse.connectors.sql.scanners import SCANNERS
from stagehouse.connectors.sql.source_freshness import FreshnessQueries
from stagehouse.connectors.sql.url_spelling import sqlalchemy_spelling
from stagehouse.connectors.sql.warehouse import WarehouseVerbs
from stagehouse.connectors.sql_quoting import quote_identifier, quote_literal
from stagehouse.connectors.sync_source import BinaryCopy, SyncRead, SyncRequest, SyncSource, given_query

EXACT_NUMERIC_BACKENDS = frozenset({"postgresql"})  # DuckDB's scanner reads their numeric through a double
DEFAULT_DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql", "postgresql": "postgresql+psycopg"}


def parse_url(name: str, text: str) -> URL:
    """The SQLAlchemy URL of a connection, with a bare backend mapped to a driver we ship."""
    try:
        url = make_url(sqlalchemy_spelling(text))
    except sa.exc.ArgumentError as exc:
        raise ConnectionConfigError(name, f"url is not a SQLAlchemy URL ({exc})") from exc
    if url.drivername in DEFAULT_DRIVERS:
        url = url.set(drivername=DEFAULT_DRIVERS[url.drivername])
    return url


class SqlConnection(FreshnessQueries, WarehouseVerbs, BulkVerbs, SchemaReads, SyncSource, Connection):
    """A SQL database named in pipedag.yaml: a source for syncs, with Peliqan's row verbs for
    writeback (``fetch``, ``execute``, ``insert``, ``update``, ``upsert``) and ``replicate``'s bulk
    load. It has no change log nor kept metadata: those live in the table store's
    ``stagehouse_meta`` schema, and only the warehouse client (``StoreConnection``) has them."""

    config: SqlConnectionConfig
    partitionable = True  # a sync reads key ranges of an integer column at once (partitions=K)

    def __init__(self, name: str, config: SqlConnectionConfig, url: str) -> None:
        super().__init__(name, config)
        self.url = parse_url(name, url)
        self.backend = self.url.get_backend_name()

    @classmethod
    def from_config(cls, name: str, config: ConnectionConfig, base_dir: Path) -> SqlConnection:
        assert isinstance(config, SqlConnectionConfig)  # the registry parsed it as this kind's
        return cls(name, config, expand(config.url))

    def overlaid(self, base: sa.Table) -> sa.Select | sa.CompoundSelect:
        """``base`` as it is: edits are layered only on the warehouse's tables (``ChangeVerbs``)."""
        return sa.select(base)

    @property
    def display_url(self) -> str:
        """The URL with its password masked: safe for logs and error messages."""
        return self.url.render_as_string(hide_password=True)

    @cached_property
    def engine(self) -> sa.Engine:
        """A SQLAlchemy engine on the source, for metadata and small queries (a server's is
        pooled for the process, ``connectors.sql.engines``)."""
        try:
            engine = engine_for(self.url)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise ConnectionConfigError(self.name, f"no driver for {self.url.drivername} ({exc})") from exc
        dialect_of(engine).prepare_engine(engine)
        return engine

    def close(self) -> None:
        if "engine" in self.__dict__:
            release_engine(self.__dict__.pop("engine"))

    def ping(self) -> None:
        """A server: connect and ``SELECT 1``. A file database (SQLite, DuckDB) must exist; it
        is not opened, since opening a missing file creates it (and a DuckDB file may be locked
        by a running flow)."""
        if not is_server(self.url):
            database = self.url.database
            if database and database != ":memory:" and not Path(database).expanduser().is_file():
                raise SourceUnavailableError(self.name, self.display_url, f"database file '{database}' does not exist")
            return
        try:
            ping_server(self.url)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise ConnectionConfigError(self.name, f"no driver for {self.url.drivername} ({exc})") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise SourceUnavailableError(self.name, self.display_url, scrubbed_line(exc, self.url)) from exc

    def sync_read(self, request: SyncRequest) -> SyncRead:
        """A table or query past the cursor (at it too, as the sync asks: an append drops the rows
        it holds at the mark); a whole table or query also as a DuckDB scan and, for a full sync, as a
        PostgreSQL binary COPY, so the store can take the fastest path it has."""
        table, query, after = request.obj, request.query, request.after
        # a whole table is copied by a DuckDB store in place (attached, one CREATE TABLE AS);
        # a delta is streamed from the shared reader, which has the extension loaded already
        scan = self.scan(table, query=query) if after is None else None
        # merge and incremental loads stay on Arrow, whose types their later deltas share
        copy: BinaryCopy | None = self.binary_copy(table, query=query) if request.mode == "full" else None
        lengths = self.declared_lengths(table) if table is not None else None
        key = request.key
        if key is None and table is not None:
            key = self.primary_key(table) or None
        reader: Any = partial(self.read, table, query=query, after=after)
        appends = None
        if request.partitions > 1:  # K key ranges read at once (connectors.sql.partitioned_copy)
            column, cursor = request.partition_by or single_key(self.name, table, key), None
            if request.mode != "full":
                cursor = request.cursor
            scan, store, reopen = (
                None,
                request.store_url,
                partial(SqlConnection.from_config, self.name, self.config, Path()),
            )
            parts = (table, query, column, request.partitions)
            copy = PartitionedCopy(self, reopen, *parts, store) if copy and store else None
            if store and on_cluster():  # the ranges' jobs on the cluster's workers, appending to the store
                appends = PartitionedAppend(self, reopen, *parts, store, after, cursor)
            reader = partitioned_read(self, table, query, after, request.partitions, column, cursor)
        return SyncRead(
            reader,
            f"connection '{self.name}', " + (f"table '{table}'" if table else "query"),
            primary_key=key,
            key_is_unique=request.key is None and key is not None,  # a declared key is unique and never NULL
            lengths=lengths,
            scan=scan,
            copy=copy,
            appends=appends,
        )

    def sync_freshness(self, request: SyncRequest) -> Any:
        """For a sync with a cursor, the cursor's maximum and the rows at it; else (a full sync
        reads every row: any changed row must rerun it) the content fingerprint, or the time
        where the dialect has none."""
        table, query = request.obj, request.query
        if request.mode != "full" and request.cursor:
            return self.cursor_freshness(table, query=query, cursor=request.cursor)
        fingerprint = self.fingerprint(table, query=query)
        return {"fetched_at": time.time()} if fingerprint is None else fingerprint

    def split_table(self, table: str) -> tuple[str | None, str]:
        """``"schema.table"`` -> (schema, table); a bare name -> (None, table) (``identifiers.split_table``)."""
        return split_table(table)

    def delta_query(self, table: str | None, query: str | None, after: CursorFilter) -> str:
        """SQL in the source's dialect for the rows of ``table``/``query`` past the cursor ``after``:
        the filter runs in the source, only the delta travels.
        """
        if table is not None:
            schema, name = self.split_table(table)
            source: sa.FromClause = sa.table(name, schema=schema)
        else:
            source = literal_sql(given_query(query)).columns().subquery("q")
        stmt = sa.select(sa.text("*")).select_from(source).where(after.condition())
        sql = str(stmt.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        # a pyformat driver's compiler doubles '%' for its own parameter parsing; this text goes
        # to DuckDB's scanner (or runs without parameters), where a doubled '%' is a different query
        return sql.replace("%%", "%") if self.engine.dialect.paramstyle in ("pyformat", "format") else sql

    def scan(
        self, table: str | None = None, *, query: str | None = None, after: CursorFilter | None = None
    ) -> DuckDBScan | None:
        """How DuckDB reads this table or query in place; None for backends it has no scanner for.

        A query runs in the source's own SQL where DuckDB can pass it through (PostgreSQL,
        MySQL); on SQLite and DuckDB files it runs in DuckDB over the attached catalog.
        ``after`` (a CursorFilter) keeps only rows past the cursor, filtered in the source.
        PostgreSQL numerics land as exact DECIMALs or are refused (``connectors.sql.exact_numerics``).
        """
        return self._plan(table, query, after, wide_as_text=False)[0]

    def _plan(
        self, table: str | None, query: str | None, after: CursorFilter | None, wide_as_text: bool
    ) -> tuple[DuckDBScan | None, ExactRead | None]:
        if (table is None) == (query is None):
            raise ValueError("scan() and read() take either a table or a query")
        scanner = SCANNERS.get(self.backend)
        if scanner is None:
            return None, None
        obj = f"table '{table}'" if table else "query"
        named = table  # the source table, whose key names a refused row
        if after is not None:
            query, table = self.delta_query(table, query, after), None
        use_catalog = passthrough = False
        exact = self._exact_read(table, query, named)
        if exact is not None:
            function, passthrough = scanner.passthrough_function, True

            def relation(alias: str) -> str:
                return exact.relation(
                    f"{function}({quote_literal(alias)}, {quote_literal(exact.source_sql)})", wide_as_text
                )
        elif table is not None:
            schema, name = self.split_table(table)
            schema = schema or scanner.default_schema(self.url)
            target = f"{quote_identifier(schema)}.{quote_identifier(name)}"

            def relation(alias: str) -> str:
                return f"SELECT * FROM {alias}.{target}"
        elif scanner.passthrough_function:
            function, passthrough = scanner.passthrough_function, True

            def relation(alias: str) -> str:
                return f"SELECT * FROM {function}({quote_literal(alias)}, {quote_literal(given_query(query))})"
        else:
            use_catalog = True

            def relation(alias: str) -> str:
                return given_query(query)

        return DuckDBScan(
            extensions=(scanner.extension,) if scanner.extension else (),
            attach_sql=lambda alias: scanner.attach_sql(self.url, alias),
            relation=relation,
            on_attach_error=lambda exc: SourceUnavailableError(
                self.name, self.display_url, scrubbed_line(exc, self.url)
            ),
            on_error=lambda exc: (
                refused(self.name, obj, exc) or SourceError(self.name, obj, scrubbed_line(exc, self.url))
            ),
            use_catalog=use_catalog,
            passthrough=passthrough,
            check=partial(refuse_zero_dates, self, table, query, named) if self.backend in MYSQL_BACKENDS else None,
        ), exact

    def _exact_read(self, table: str | None, query: str | None, named: str | None) -> ExactRead | None:
        """How to read a PostgreSQL table or query with ``numeric`` columns exactly; None when it
        has none. A refused row is named by the key of ``named``, the source table (by its first
        column for a query)."""
        if self.backend not in EXACT_NUMERIC_BACKENDS:
            return None
        if table is not None:
            query = f"SELECT * FROM {quoted_name(self.engine, *self.split_table(table))}"
        query = given_query(query)
        described = numeric_columns(self.engine, query)
        if described is None or not described[1]:
            return None
        columns, numerics = described
        key = self.primary_key(named) if named is not None else []
        return ExactRead(text_select(query, columns, numerics), columns, numerics, key)

    def read(
        self,
        table: str | None = None,
        *,
        query: str | None = None,
        after: CursorFilter | None = None,
        batch_rows: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream a table (``"schema.table"`` or ``"table"``) or a query in the source's own SQL.

        ``after`` (a CursorFilter) streams only rows past the cursor (filtered in the source).
        A table's ``varchar(n)`` fields carry their length as field metadata (``connectors.sql.declared``).
        """
        if table is None:
            return self._read(table, query=query, after=after, batch_rows=batch_rows)
        lengths = self.declared_lengths(table)
        if not is_server(self.url):
            self.close()  # one DuckDB in the process holds a file at a time: the scan attaches it next
        return with_lengths(self._read(table, query=query, after=after, batch_rows=batch_rows), lengths)

    def declared_lengths(self, table: str) -> dict[str, int]:
        """Column -> the declared length of ``table``'s ``varchar(n)`` columns (``connectors.sql.declared``)."""
        try:
            return declared_lengths(self.engine, *self.split_table(table))
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(f"table '{table}'", exc) from exc

    def _read(
        self, table: str | None, *, query: str | None, after: CursorFilter | None, batch_rows: int | None
    ) -> pa.RecordBatchReader:
        rows = batch_rows or self.config.batch_rows
        plan, exact = self._plan(table, query, after, wide_as_text=True)
        if plan is not None and exact is not None:
            obj = f"table '{table}'" if table else "query"
            return exact.tagged(self._stream(plan, rows), self.name, obj)
        if plan is None:
            obj = f"table '{table}'" if table else "query"
            if after is not None:
                query, table = self.delta_query(table, query, after), None
            return self._read_generic(table, query, rows, obj)
        return self._stream(plan, rows)

    def _stream(self, plan: DuckDBScan, rows: int) -> pa.RecordBatchReader:
        if plan.extensions and plan.passthrough:
            con, alias = kept_attachment(plan)
            return stream(con, plan.relation(alias), batch_rows=rows, on_error=plan.on_error)
        # a plan that loads an extension reads in the process's shared reader (loaded once);
        # a DuckDB file gets a database of its own (one database can't attach a file twice)
        con = reader_connection() if plan.extensions else open_duckdb()
        alias = f"src_{uuid.uuid4().hex[:12]}"

        def release() -> None:
            try:
                con.execute(f"USE memory; DETACH DATABASE IF EXISTS {alias}")  # a catalog plan made it the default
            finally:
                con.close()

        try:
            plan.attach(con, alias)
        except BaseException:
            release()
            raise
        return stream(con, plan.relation(alias), batch_rows=rows, on_error=plan.on_error, release=release)

    def _read_generic(self, table: str | None, query: str | None, rows: int, obj: str) -> pa.RecordBatchReader:
        if table is not None:
            schema, name = self.split_table(table)
            stmt: sa.Executable = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema))
        else:
            stmt = literal_sql(given_query(query))
        return stream_sqlalchemy(self.engine, stmt, batch_rows=rows, on_error=lambda exc: self._error(obj, exc))

    def primary_key(self, table: str) -> list[str]:
        """The source table's primary key columns (empty when it has none)."""
        schema, name = self.split_table(table)
        try:
            with self.engine.connect() as conn:
                return dialect_of(conn).primary_key(conn, schema, name)
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(f"table '{table}'", exc) from exc

    def binary_copy(self, table: str | None = None, *, query: str | None = None) -> PostgresCopy | None:
        """The table or query as a binary COPY a PostgreSQL store takes as is (``connectors.sql.pg_copy``);
        None for a source that is not PostgreSQL."""
        if self.backend not in COPY_BACKENDS:
            return None
        if table is not None:
            schema, name = self.split_table(table)
            query = f"SELECT * FROM {quoted_name(self.engine, schema, name)}"
        obj = f"table '{table}'" if table else "query"
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresCopy(
            conninfo, given_query(query), on_error=lambda exc: self._error(obj, exc), connection=self.name, obj=obj
        )

    def _error(self, obj: str, exc: BaseException) -> SourceError:
        # a DB-API driver's own OperationalError (binary_copy's psycopg2) is named so by the standard
        operational = isinstance(exc, sa.exc.OperationalError) or type(exc).__name__ == "OperationalError"
        if operational and "connect" in str(exc).lower():
            return SourceUnavailableError(self.name, self.display_url, scrubbed_line(exc, self.url))
        return SourceError(self.name, obj, scrubbed_line(exc, self.url))


def scrubbed_line(exc: BaseException, url: URL) -> str:
    """The useful first line of a driver error, with the password scrubbed out."""
    text = first_line(exc)
    if url.password:
        text = text.replace(str(url.password), "***")
    return text
