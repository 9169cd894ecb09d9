"""A DuckDB table store whose stage commit is one transaction.

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
``tasks`` is imported.

Example::

    store = SQLTableStore("duckdb:///data/db.duckdb")   # an AtomicCommitDuckDBTableStore
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from pydiverse.pipedag import Schema
from pydiverse.pipedag.backend.table.sql.ddl import CreateAlias, DropSchemaContent
from pydiverse.pipedag.backend.table.sql.dialects.duckdb import DuckDBTableStore

from stagehouse.connectors.sql.duckdb_reflection import reflected_table
from stagehouse.tasks.stage_metadata import KeepsDescriptions

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Already registered a SQLTableStore for dialect duckdb")

    class AtomicCommitDuckDBTableStore(KeepsDescriptions, DuckDBTableStore):
        """pipedag's DuckDB store with ``_commit_stage_read_views`` in one transaction (and the
        stage's descriptions set again after it, ``KeepsDescriptions``), and a quick ``reflect_table``."""

        _dialect_name = "duckdb"

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
            tables = inspector.get_table_names(schema=src_schema.get()) + inspector.get_view_names(schema=src_schema.get())
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
                            stages.update().where(stages.c.stage == stage.name).values(cur_transaction_name=stage.transaction_name)
                        )
                    else:
                        meta_conn.execute(stages.insert().values(stage=stage.name, cur_transaction_name=stage.transaction_name))
                    self._commit_stage_update_metadata(stage, meta_conn)
