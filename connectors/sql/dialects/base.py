"""What a SQL dialect can do, as data, and the statements that differ between dialects.

Code that talks to a database asks its adapter (``dialect_of(engine)``) instead of testing the
dialect's name: a capability is a field of ``Capabilities``, a difference in SQL is a method
whose base version is the portable one (``information_schema``, the driver's row count).
A new dialect is one module in this package that subclasses ``SqlDialect`` with its ``name``.

Example::

    dialect_of(engine).capabilities.bulk_load      # 'adbc_copy' on PostgreSQL
    dialect_of(conn).affected_rows(conn, update)   # rows an UPDATE changed, on every store
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa

PORTABLE_COLUMNS = (
    "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
    "FROM information_schema.columns WHERE table_schema = :schema AND table_name IN :names ORDER BY table_name, "
    "ordinal_position"
)
PORTABLE_RELATION_KIND = (
    "SELECT CASE table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'TABLE' END FROM information_schema.tables "
    "WHERE table_schema = :s AND table_name = :t"
)
PORTABLE_PRIMARY_KEY = (
    "SELECT kcu.column_name FROM information_schema.table_constraints tc "
    "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
    "AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name "
    "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = :schema AND tc.table_name = :name "
    "ORDER BY kcu.ordinal_position"
)


@dataclass(frozen=True)
class Capabilities:
    """What a dialect supports, read by the code that would otherwise test its name (every field
    is read somewhere; a difference nothing branches on has no field).

    ``bulk_load``: how an Arrow stream lands in a new table (``arrow_scan``: the database scans
    it; ``adbc_copy``: ADBC's binary COPY; None: no bulk writes). ``one_transaction_load``: DDL
    is transactional and a stream can land as a TEMP table inside an open transaction, so a
    load lands, merges and records its state in one transaction.
    ``renameable_keyed_tables``: a table with a key constraint can be renamed (pipedag's commit
    renames). ``change_log_overlay``: the change log's JSON edits can be layered in SQL.
    ``comment_kinds``: the objects ``COMMENT ON`` takes; ``describable_kinds``: those a
    description may be set on. ``keeps_catalog``: Stagehouse's catalog of ids and descriptions
    lives there. ``partial_indexes``: ``CREATE INDEX … WHERE`` (a versions table is indexed).
    ``enforces_lengths``: ``varchar(n)`` refuses longer values. ``file_database``: the URL's
    database is a file path; ``exclusive_file``: one process at a time opens it (a second
    attach in the same process fails too). ``kept_arrow_connections``: opening a connection costs
    more than a small query, so a reader of many small queries keeps some open
    (``kept_arrow_connection``).
    """

    bulk_load: str | None = None
    one_transaction_load: bool = False
    renameable_keyed_tables: bool = True
    change_log_overlay: bool = False
    comment_kinds: frozenset[str] = frozenset()
    describable_kinds: frozenset[str] = frozenset({"table", "field"})
    keeps_catalog: bool = False
    partial_indexes: bool = False
    enforces_lengths: bool = False
    file_database: bool = False
    exclusive_file: bool = False
    kept_arrow_connections: bool = False


class SqlDialect:
    """The portable behaviour; each dialect module overrides what differs. Registered by ``name``
    (SQLAlchemy's dialect name) when its class is defined."""

    name: str = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    registered: ClassVar[dict[str, type[SqlDialect]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            SqlDialect.registered[cls.name] = cls

    def __init__(self, name: str | None = None) -> None:
        if name:
            self.name = name  # a dialect without a module of its own: the portable behaviour

    def prepare_engine(self, engine: sa.Engine) -> None:
        """Make ``engine`` fit for our statements (quoting rules); nothing by default."""

    def default_schema(self, conn: sa.Connection) -> str | None:
        return conn.dialect.default_schema_name

    columns_catalog_query: ClassVar[str] = PORTABLE_COLUMNS  # table, column, then what ``catalog_type`` takes

    def columns_of_tables(self, conn: sa.Connection, schema: str, names: list[str]) -> dict[str, dict[str, str]]:
        """Table -> column -> the database's type name, for the tables of ``names`` that exist."""
        query = sa.text(self.columns_catalog_query).bindparams(sa.bindparam("names", expanding=True))
        tables: dict[str, dict[str, str]] = {}
        for table, column, *described in conn.execute(query, {"schema": schema, "names": names}):
            tables.setdefault(table, {})[column] = self.catalog_type(conn, *described)
        return tables

    def catalog_type(
        self, conn: sa.Connection, kind: str, length: int | None, precision: int | None, scale: int | None
    ) -> str:
        """A column's type name from its ``columns_catalog_query`` row (``catalog_type_name``)."""
        return catalog_type_name(kind, length, precision, scale)

    def stored_tables(self, conn: sa.Connection, schema: str) -> dict[str, int | None]:
        """The tables of ``schema`` with their row counts where the catalog keeps them (None else)."""
        return dict.fromkeys(sa.inspect(conn).get_table_names(schema=schema))

    def relation_kind_query(self) -> str:
        """SQL answering 'TABLE' or 'VIEW' for ``:s``.``:t`` (no row when there is none)."""
        return PORTABLE_RELATION_KIND

    def primary_key(self, conn: sa.Connection, schema: str | None, name: str) -> list[str]:
        """The primary key columns of ``schema.name`` (empty if none), as SQLAlchemy reflects them."""
        return list(sa.inspect(conn).get_pk_constraint(name, schema=schema)["constrained_columns"])

    def constraint_key(self, conn: sa.Connection, schema: str | None, name: str) -> list[str]:
        """The primary key from ``information_schema``: one query, where reflection costs several."""
        return list(
            conn.execute(
                sa.text(PORTABLE_PRIMARY_KEY), {"schema": schema or self.default_schema(conn), "name": name}
            ).scalars()
        )

    def schemas_query(self) -> str | None:
        """SQL listing the open database's schemas where the inspector lists more; None: ask it."""
        return None

    def comment_query(self, kind: str) -> str | None:
        """SQL reading the comment on the database or a schema (``:s``); None where there is none."""
        return None

    def table_comments(
        self, conn: sa.Connection, schema: str, table: str, *, fields: bool = True
    ) -> tuple[str | None, dict[str, str]] | None:
        """The comment of ``schema.table`` and, with ``fields``, of its columns from the catalog;
        None: ask the inspector."""
        return None

    def affected_rows(self, conn: sa.Connection, statement: sa.Executable) -> int:
        """Run a DML statement and return how many rows it changed."""
        return conn.execute(statement).rowcount

    def written_rows(self, conn: sa.Connection, statement: str | sa.Executable) -> int:
        """Run a DML or CREATE TABLE AS statement; return how many rows it wrote."""
        return conn.execute(sa.text(statement) if isinstance(statement, str) else statement).rowcount

    def driver_answer(self, conn: sa.Connection, statement: sa.Executable) -> str | None:
        """How the driver answers ``statement`` where it differs from DB-API: 'count' (a row with
        the count) or 'none' (an empty result); None: as DB-API says."""
        return None

    def arrow(self, engine: sa.Engine, sql: str) -> pa.Table:
        """The result of ``sql`` as an Arrow table."""
        with engine.connect() as conn:
            return pa.Table.from_pylist([dict(r) for r in conn.execute(sa.text(sql)).mappings()])

    def kept_arrow_connection(self, engine: sa.Engine) -> Any:
        """A connection to keep open for many ``read_arrow`` calls, in autocommit (each query
        sees what is committed when it starts); on dialects with ``kept_arrow_connections``."""
        raise NotImplementedError(f"{self.name} keeps no Arrow connections")

    def read_arrow(self, connection: Any, sql: str) -> pa.Table:
        """The result of ``sql`` on a ``kept_arrow_connection``."""
        raise NotImplementedError(f"{self.name} keeps no Arrow connections")

    def outdated_read(self, table: pa.Table) -> bool:
        """True when a kept connection read ``table`` with facts older than the query (then read
        it again on a new connection)."""
        return False

    def json_scalar(self, value: sa.ColumnElement) -> sa.ColumnElement:
        """The text of a JSON scalar ('"abc"' -> abc, 'null' -> NULL)."""
        return sa.func.json_extract_string(value, "$")

    def json_field(self, value: sa.ColumnElement, key: str) -> sa.ColumnElement:
        """The text of field ``key`` of a JSON object."""
        return sa.func.json_extract_string(value, "$." + '"' + key.replace('"', '\\"') + '"')

    def try_cast(
        self, column: sa.ColumnElement, target: sa.types.TypeEngine, guard: str | None
    ) -> sa.ColumnElement | None:
        """``column`` cast to ``target``, NULL where it does not fit (where its text does not
        match the regular expression ``guard``, for a dialect without TRY_CAST); None when the
        dialect cannot say."""
        return None

    def tune_load_transaction(self, conn: sa.Connection) -> None:
        """Settings for a transaction that merges a small delta into a big table; none by default."""

    def analyze_statement(self, relation: str, columns: list[str]) -> str | None:
        """The statement that refreshes the planner's statistics of ``relation`` (quoted), or None."""
        return None

    def land_arrow(
        self, engine: sa.Engine, schema: str | None, name: str, data: pa.Table | pa.RecordBatchReader
    ) -> None:
        """Create ``schema.name`` from Arrow data by the dialect's bulk path (``capabilities.bulk_load``)."""
        raise NotImplementedError(f"{self.name} has no bulk load")

    def bulk_connection(self, engine: sa.Engine) -> Any:
        """A DB-API connection for bulk writes where the dialect has one (ADBC)."""
        raise NotImplementedError(f"{self.name} has no bulk connection")


def catalog_type_name(kind: str, length: int | None, precision: int | None, scale: int | None) -> str:
    """``character varying(40)``, ``numeric(15,2)``: the catalog's type name with the modifiers
    that change what a value may be (a bare ``numeric`` has none: any precision)."""
    lowered = kind.lower()
    if length and "char" in lowered:
        return f"{kind}({length})"
    if precision is not None and lowered in ("numeric", "decimal"):
        return f"{kind}({precision},{scale or 0})"
    return kind
