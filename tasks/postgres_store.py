"""The PostgreSQL table store with the stage's descriptions set again after each commit.

A schema swap moves the old schema's comments away with it and tables pipedag copies for cache-
valid tasks are new tables; ``KeepsDescriptions`` re-applies what users described. It registers
itself for the ``postgresql`` dialect: ``SQLTableStore`` in pipedag.yaml creates it once ``tasks``
is imported.

Example::

    store = SQLTableStore("postgresql://postgres@127.0.0.1:5432/stagehouse_pg")   # a KeptDescriptionsPostgresTableStore
"""

from __future__ import annotations

import warnings

from pydiverse.pipedag.backend.table.sql.dialects.postgres import PostgresTableStore

from stagehouse.tasks.stage_metadata import KeepsDescriptions

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Already registered a SQLTableStore for dialect postgresql")

    class KeptDescriptionsPostgresTableStore(KeepsDescriptions, PostgresTableStore):
        """pipedag's PostgreSQL store; after a stage commit its descriptions are comments again."""

        _dialect_name = "postgresql"
