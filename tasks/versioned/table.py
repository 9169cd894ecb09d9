"""The versions of one stage table in the store: its generations, helper tables, transactions
and the start of a load (clean-up of what a failed load left).

Example::

    versioned = VersionedTable(engine, "raw", "orders")
    versioned.table_name(2)   # 'raw__orders__g2'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from stagehouse.connectors.sql.described import described_tables, stored_tables
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.connectors.sql.metadata import VERSIONS_SCHEMA
from stagehouse.tasks.arrow_stream import compiled
from stagehouse.tasks.errors import StoreWriteError
from stagehouse.tasks.versioned.state import FROM_LOAD, TO_LOAD, LoadState


class VersionedTable:
    """The versions of one stage table: its generations, helper tables and load operations."""

    def __init__(self, engine: sa.Engine, stage: str, name: str) -> None:
        self.engine, self.name = engine, name
        self.prefix = f"{stage}__{name}"

    def table_name(self, generation: int) -> str:
        return f"{self.prefix}__g{generation}"

    def helper(self, role: str) -> str:
        """The name of a helper table: ``delta``, ``visible``, ``mark`` or ``started``."""
        return f"{self.prefix}__{role}"

    def reflect(self, *names: str, bind: sa.Connection | None = None) -> list[sa.Table]:
        """The tables ``names`` of the versions schema with their store types, from one query
        (on ``bind``, to see its transaction's tables, or a connection of its own)."""
        found = described_tables(bind or self.engine, VERSIONS_SCHEMA, list(names))
        missing = [name for name in names if name not in found]
        if missing:
            raise StoreWriteError(self.name, f"versions table {VERSIONS_SCHEMA}.{missing[0]} is missing from the store")
        return [found[name] for name in names]

    def stub(self, name: str, *columns: str) -> sa.TableClause:
        """A table of the versions schema named with the columns a statement needs (no catalog query)."""
        return sa.table(name, *(sa.column(c) for c in columns), schema=VERSIONS_SCHEMA)

    def create_statement(self, name: str, select: sa.Executable) -> str:
        return f"CREATE TABLE {quoted_name(self.engine, VERSIONS_SCHEMA, name)} AS {compiled(self.engine, select)}"

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One transaction on the store, planned for a small delta against a big table
        (``SqlDialect.tune_load_transaction``: on PostgreSQL index lookups priced for SSDs, and
        no wait for the WAL flush — a server crash before the stage commits loses only an
        uncommitted load, which the next run redoes anyway)."""
        with self.engine.begin() as conn:
            dialect_of(conn).tune_load_transaction(conn)
            yield conn

    def execute(self, *statements: str | sa.Executable) -> None:
        with self.transaction() as conn:
            execute_all(conn, *statements)

    def create_as(self, name: str, select: sa.Executable) -> tuple[sa.Table, int]:
        """A new table from ``select`` and its row count, analysed (PostgreSQL) so joins with it plan well."""
        with self.transaction() as conn:
            rows = written_rows(conn, self.create_statement(name, select))
        self.analyze(name)
        return self.reflect(name)[0], rows

    def create_generation(self, generation: int, select: sa.Executable, key: list[str] | None) -> tuple[sa.Table, int]:
        """A generation of versions from ``select``. Where the store has partial indexes
        (PostgreSQL), indexed on ``key`` (the next load looks its keys up) and on the closed
        versions (``_sh_to``, a partial index that stays as small as the last delta), so that
        neither closing nor cleaning up scans the table. Returns the versions table and its row count."""
        versions, rows = self.create_as(self.table_name(generation), select)
        if dialect_of(self.engine).capabilities.partial_indexes:
            closed = versions.c[TO_LOAD]
            indexes = [sa.Index(f"{versions.name}__closed", closed, postgresql_where=closed.is_not(None))]
            if key:
                indexes.append(sa.Index(f"{versions.name}__key", *(versions.c[k] for k in key)))
            self.execute(*(sa.schema.CreateIndex(index) for index in indexes))
        return versions, rows

    def analyze(self, name: str, columns: list[str] | None = None) -> None:
        """Fresh statistics for the planner (PostgreSQL; DuckDB keeps its own), of ``columns`` only
        when given: a join by key needs the key's, at a fraction of the cost of all columns."""
        quote = self.engine.dialect.identifier_preparer.quote
        statement = dialect_of(self.engine).analyze_statement(
            quoted_name(self.engine, VERSIONS_SCHEMA, name), [quote(c) for c in columns or []]
        )
        if statement:
            self.execute(statement)

    def drop_statements(self, *names: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {quoted_name(self.engine, VERSIONS_SCHEMA, n)}" for n in names]

    def begin_load(self, previous: LoadState | None) -> None:
        """``begin`` in a transaction of its own, the versions schema made first in one of its own:
        loads beginning at once (a parallel engine's first run) race on ``CREATE SCHEMA IF NOT
        EXISTS``, which PostgreSQL can answer with a unique violation; the loser finds it made."""
        try:
            with self.engine.begin() as conn:
                quote = self.engine.dialect.identifier_preparer.quote
                conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(VERSIONS_SCHEMA)}")
        except sa.exc.IntegrityError:  # made by a load beginning beside this one
            pass
        with self.transaction() as conn:
            self.begin(conn, previous)

    def begin(self, conn: sa.Connection, previous: LoadState | None) -> int | None:
        """Make the store ready for the load after ``previous`` and record that it starts, in
        ``conn``'s transaction: the schema and the start record exist, the helper tables and every
        generation but the committed one are gone, and the clean-up below is done.

        The clean-up removes what a load after the committed one wrote (a failed or killed run)
        and reopens what it closed — only when such a load started, which the start record tells
        without scanning — and deletes the versions no reader can see any more (closed at or
        before the committed load). On DuckDB that DELETE costs as much for few closed versions as
        for many (it scans the table), so it waits until the closed
        versions are a tenth of the table; PostgreSQL finds them by their index every time.
        Returns how many closed versions are left (as counted; 0 after a clean-up).
        """
        quote = self.engine.dialect.identifier_preparer.quote
        pattern = re.compile(re.escape(self.prefix) + r"__(g\d+|delta|visible|mark)$")
        keep = self.table_name(previous.generation) if previous else None
        stored = stored_tables(conn, VERSIONS_SCHEMA)  # none before the schema exists
        stale = [t for t in stored if pattern.match(t) and t != keep]
        started = self.stub(self.helper("started"), "started_load")
        committed = previous.load if previous else 0
        left: int | None = 0
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(VERSIONS_SCHEMA)}")
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {quoted_name(self.engine, VERSIONS_SCHEMA, started.name)} (started_load "
            "BIGINT)"
        )
        for table in stale:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted_name(self.engine, VERSIONS_SCHEMA, table)}")
        if previous is not None and keep is not None:  # keep: the previous load's generation
            versions = self.stub(keep, FROM_LOAD, TO_LOAD)
            last_started = conn.execute(sa.select(sa.func.max(started.c.started_load))).scalar()
            if last_started is None or last_started > committed:
                conn.execute(sa.delete(versions).where(versions.c[FROM_LOAD] > committed))
                conn.execute(sa.update(versions).where(versions.c[TO_LOAD] > committed).values({TO_LOAD: None}))
            left = previous.closed
            if _clean_up_due(previous, stored.get(keep)):
                conn.execute(sa.delete(versions).where(versions.c[TO_LOAD] <= committed))
                left = 0
        conn.execute(sa.delete(started))
        conn.execute(sa.insert(started).values(started_load=committed + 1))
        return left


CLEAN_UP_SHARE = 10  # DuckDB deletes closed versions once they are 1/10 of the versions table


def _clean_up_due(previous: LoadState, versions_size: int | None) -> bool:
    """True when the load about to start deletes the closed versions first: always where they are
    not counted (PostgreSQL, a load record from before the count), on DuckDB once they are a
    tenth of the table (``versions_size``, DuckDB's row count of it)."""
    if previous.closed is None or versions_size is None:
        return True
    return previous.closed * CLEAN_UP_SHARE >= versions_size


def written_rows(conn: sa.Connection, statement: str | sa.Executable) -> int:
    """Execute a DML or CREATE TABLE AS ``statement`` on ``conn``; return how many rows it wrote
    (``SqlDialect.written_rows``: DuckDB answers with a row holding the count)."""
    return dialect_of(conn).written_rows(conn, statement)


def execute_all(conn: sa.Connection, *statements: str | sa.Executable) -> None:
    for statement in statements:
        conn.execute(_executable(statement))


def _executable(statement: str | sa.Executable) -> sa.Executable:
    return sa.text(statement) if isinstance(statement, str) else statement
