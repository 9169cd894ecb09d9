"""The DuckDB table store: pipedag's, with an atomic stage commit, and its bulk path.

pipedag commits a stage of a DuckDB store by pointing read views (``raw.orders`` →
``raw__even.orders``) at the stage's new transaction schema: it drops the old views in one
transaction and creates each new view in a transaction of its own. A process killed between the
two (SIGKILL, the OOM killer, a power cut) leaves readers without the stage's tables until a later
run commits again — ``tests/test_kill_safety.py`` hit that window once incremental syncs got fast
enough for the commit to be a sizeable part of a run. DuckDB's DDL is transactional, so this store
drops and creates the views and records the stage's new transaction schema in one transaction:
readers see the previous stage or the new one, never neither.

It also reflects a task's input tables from DuckDB's own catalog (``reflect_table``): the same
``sa.Table`` as SQLAlchemy's slow reflection, which every SQL
or polars task paid for each input on each run, cache-valid or not.

It registers itself for the ``duckdb`` dialect: ``SQLTableStore`` in pipedag.yaml creates it once
``tasks`` is imported; its pandas and polars hooks read time-zone-aware columns as UTC
(``tasks.zoned_reads``). ``DuckDBStore`` writes streams: DuckDB scans the Arrow stream itself
(``CREATE TABLE AS SELECT * FROM stream``), or attaches a SQL source it has a scanner for and
copies it in place.

Example::

    store = SQLTableStore("duckdb:///data/db.duckdb")   # an AtomicCommitDuckDBTableStore
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import polars as pl
import sqlalchemy as sa
from pydiverse.pipedag import Schema
from pydiverse.pipedag.backend.table.sql.ddl import CreateAlias, DropSchemaContent
from pydiverse.pipedag.backend.table.sql.dialects import duckdb as duckdb_hooks
from pydiverse.pipedag.backend.table.sql.dialects.duckdb import DuckDBTableStore
from pydiverse.pipedag.util.sql import compile_sql

from stagehouse.connectors.duckdb_scan import DuckDBScan
from stagehouse.connectors.sql.described import native_table
from stagehouse.connectors.sql.driver import driver_connection
from stagehouse.connectors.sql.duckdb_file import connect_when_free
from stagehouse.connectors.sql.duckdb_reflection import reflected_table
from stagehouse.connectors.sql.exact_numerics import store_landing
from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.tasks.stage_metadata import KeepsDescriptions
from stagehouse.tasks.stores.base import InPlace, OpenReader, TableStore, checked_reader
from stagehouse.tasks.zoned_reads import ZonedPandasRead, ZonedPolarsRead

if TYPE_CHECKING:
    from stagehouse.connectors.sql.dialects.duckdb import DuckDBDialect

BULK_SETTINGS = {"memory_limit": "64MB", "preserve_insertion_order": "false"}
DUCKDB_ZONED = "timestamp with time zone"  # DuckDBPyType.id of TIMESTAMPTZ

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Already registered a SQLTableStore for dialect duckdb")

    class AtomicCommitDuckDBTableStore(KeepsDescriptions, DuckDBTableStore):
        """pipedag's DuckDB store with ``_commit_stage_read_views`` in one transaction (and the
        stage's descriptions set again after it, ``KeepsDescriptions``), and a quick ``reflect_table``."""

        _dialect_name = "duckdb"

        def _create_engine(self, **kwargs):
            """pipedag's engine, whose connections wait out a process that opens the file for a moment."""
            engine = super()._create_engine(**kwargs)
            sa.event.listen(engine, "do_connect", connect_when_free)
            return engine

        def reflect_table(self, table_name: str, schema: str | Schema) -> sa.Table:
            """The table as pipedag's reflection gives it, from DuckDB's catalog where it can
            (``connectors.sql.duckdb_reflection``), else pipedag's own way."""
            with self.engine.connect() as conn:
                table = reflected_table(conn, schema.get() if isinstance(schema, Schema) else schema, table_name)
            return table if table is not None else super().reflect_table(table_name, schema)

        def _commit_stage_read_views(self, stage):
            dest_schema = self.get_schema(stage.name)
            src_schema = self.get_schema(stage.transaction_name)
            inspector = sa.inspect(self.engine)
            tables = inspector.get_table_names(schema=src_schema.get()) + inspector.get_view_names(
                schema=src_schema.get()
            )
            with self.engine_connect() as conn, conn.begin():
                self.execute(DropSchemaContent(dest_schema, self.engine), conn=conn)
                self.on_clear_schema(dest_schema.get())
                for table in tables:
                    self.execute(CreateAlias(table, src_schema, table, dest_schema), conn=conn)
                    self.on_read_view_alias(table, src_schema.get(), dest_schema.get())
                with self.metadata_connect(conn) as meta_conn:
                    stages = (self.metadata_store or self).stage_table
                    if meta_conn.execute(sa.select(1).where(stages.c.stage == stage.name)).scalar() == 1:
                        meta_conn.execute(
                            stages.update()
                            .where(stages.c.stage == stage.name)
                            .values(cur_transaction_name=stage.transaction_name)
                        )
                    else:
                        meta_conn.execute(
                            stages.insert().values(stage=stage.name, cur_transaction_name=stage.transaction_name)
                        )
                    self._commit_stage_update_metadata(stage, meta_conn)


@AtomicCommitDuckDBTableStore.register_table(pd)
class DuckDBPandasHook(ZonedPandasRead, duckdb_hooks.PandasTableHook):
    """pipedag's DuckDB pandas hook, time-zone-aware columns as UTC.

    duckdb_engine reflects ``TIMESTAMPTZ`` as a plain ``TIMESTAMP``, so the reflected columns
    cannot tell which casts to skip; DuckDB's own description of the query can (nothing runs).
    """

    @classmethod
    def download_table(cls, query: Any, store: Any, dtypes: dict | None = None) -> pd.DataFrame:
        if dtypes:
            sql = query if isinstance(query, str) else compile_sql(query, store.engine)
            conn = store.engine.raw_connection()
            try:
                relation = conn.sql(sql)
                zoned = {
                    name
                    for name, type_ in zip(relation.columns, relation.types, strict=True)
                    if type_.id == DUCKDB_ZONED
                }
            finally:
                conn.close()
            dtypes = {name: dtype for name, dtype in dtypes.items() if name not in zoned}
        return super().download_table(query, store, dtypes)


@AtomicCommitDuckDBTableStore.register_table(pl)
class DuckDBPolarsHook(ZonedPolarsRead, duckdb_hooks.PolarsTableHook):
    """pipedag's DuckDB polars hook, time-zone-aware columns as UTC."""


class DuckDBStore(TableStore):
    """Streams land by DuckDB's own Arrow scan; a load's delta can land as a TEMP table."""

    dialect_name = "duckdb"
    dialect: DuckDBDialect

    def write_stream(
        self, engine: sa.Engine, schema: str, table: str, open_reader: OpenReader, source: InPlace = InPlace()
    ) -> None:
        if source.scan is not None and not source.scan.use_catalog:
            self._scan_into(engine, schema, table, source.scan)
            return
        with engine.connect() as conn:
            self._copy_into(conn, f"TABLE {quoted_name(engine, schema, table)}", table, open_reader)
            conn.commit()

    def land_temporary(self, conn: sa.Connection, table: str, open_reader: OpenReader) -> None:
        """A helper that only this transaction reads never reaches the database file or its WAL."""
        self._copy_into(conn, f"TEMP TABLE {quoted_name(conn, None, table)}", table, open_reader)

    def temporary_table(self, conn: sa.Connection, name: str) -> sa.Table:
        """Unqualified: DuckDB looks in the connection's temporary catalog first."""
        return native_table(name, self.dialect.described_columns(conn, quoted_name(conn, None, name)), None)

    @contextmanager
    def bounded_memory(self, engine: sa.Engine) -> Iterator[None]:
        """A copy needs no row order and no more memory than a few row groups, and a key check
        spills its hash table: left at its defaults DuckDB buffers up to 80 % of the machine's
        RAM; with these settings a big sync stays near 170 MB above the process and runs as fast.

        Both settings are global to the database, so they are set from a connection of their own,
        outside any transaction: DuckDB refuses a memory limit below what it holds already (right
        after a load cleaned up a big table), and a refusal inside the load's transaction would
        abort it — here the store just keeps its own limit.
        """
        with engine.connect() as settings:
            duck = driver_connection(settings)
            previous = {}
            for name, value in BULK_SETTINGS.items():
                current = duck.execute(f"SELECT current_setting('{name}')").fetchone()[0]
                try:
                    duck.execute(f"SET {name} = '{value}'")
                except duckdb.OutOfMemoryException:
                    continue
                previous[name] = current
            try:
                yield
            finally:
                for name, value in previous.items():
                    duck.execute(f"SET {name} = '{value}'")

    def _scan_into(self, engine: sa.Engine, schema: str, table: str, scan: DuckDBScan) -> None:
        """The source attached to the store's own DuckDB and copied by one CREATE TABLE AS."""
        alias = f"stagehouse_source_{uuid.uuid4().hex[:12]}"
        with engine.connect() as conn:
            duck = driver_connection(conn)
            scan.attach(duck, alias)
            try:
                with self.bounded_memory(engine):
                    conn.exec_driver_sql(f"CREATE TABLE {quoted_name(engine, schema, table)} AS {scan.relation(alias)}")
                    conn.commit()
            except sa.exc.DBAPIError as exc:
                conn.rollback()  # else the DETACH below fails in the aborted transaction and hides the source's error
                raise scan.on_error(exc.orig or exc) from exc
            finally:
                duck.execute(f"DETACH {alias}")

    def _copy_into(self, conn: sa.Connection, target: str, table: str, open_reader: OpenReader) -> None:
        """``CREATE <target> AS`` the rows of the stream, which DuckDB scans as a registered view."""
        reader = checked_reader(table, open_reader())
        duck = driver_connection(conn)
        view = f"stagehouse_stream_{id(reader)}"
        select, refusal = store_landing(view, reader.schema)  # a wide PostgreSQL numeric: DECIMAL, or refused
        duck.register(view, reader)
        try:
            with self.bounded_memory(conn.engine):
                conn.exec_driver_sql(f"CREATE {target} AS {select}")
        except sa.exc.DBAPIError as exc:
            if (refused := refusal(exc.orig or exc)) is not None:
                raise refused from exc
            raise
        finally:
            duck.unregister(view)
