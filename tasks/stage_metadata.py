"""What a stage's tables carry beyond their rows: declared keys, and descriptions after a commit.

A task declares the key of the table it returns (``declare_key``) in the store's catalog
(``connectors.sql.catalog``), so the warehouse client knows it where the table has no key
constraint (DuckDB stage tables, merge views). ``KeepsDescriptions`` is mixed into the table
stores of both dialects: after pipedag commits a stage — which recreates its tables (PostgreSQL
schema swap) or read views (DuckDB) and so drops their comments — it sets the descriptions kept
for the stage's schema again. Being part of the store, it holds for ``flow.run()`` as much as
for ``stagehouse run``.

Example::

    declare_key("orders", ["order_id"])     # inside a task of stage "raw": raw.orders
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydiverse.pipedag.context import TaskContext

from stagehouse.connectors.errors import first_line
from stagehouse.connectors.sql.catalog import declare_key as record_key
from stagehouse.connectors.sql.catalog import reapply_descriptions
from stagehouse.tasks.incremental import stage_schema
from stagehouse.tasks.stores.engine import store_engine

logger = logging.getLogger(__name__)


def declare_key(table: str, key: list[str] | None, lengths: dict[str, int] | None = None) -> None:
    """Record ``key`` (None: no key) as the primary key of ``table`` in the running task's stage,
    and the ``varchar(n)`` lengths its source declares (edits are checked against them)."""
    record_key(store_engine(), stage_schema(TaskContext.get().task._stage.name), table, key, lengths)


if TYPE_CHECKING:
    _Store = Any  # the mixin goes into pipedag's (untyped) SQL table stores
else:
    _Store = object


class KeepsDescriptions(_Store):
    """A table store mixin: after each stage commit, the stage's kept descriptions are comments again."""

    engine: sa.Engine

    def commit_stage(self, stage) -> None:
        super().commit_stage(stage)
        schema = self.get_schema(stage.name).get()
        try:
            reapply_descriptions(self.engine, schema)
        except sa.exc.SQLAlchemyError as exc:  # the data is committed; a lost comment must not fail the run
            logger.warning("descriptions of schema %s not re-applied after its commit: %s", schema, first_line(exc))
