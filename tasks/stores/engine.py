"""The running instance's store engine and the adapter of a store's dialect.

Example::

    store_of(store_engine()).bounded_memory(engine)
"""

from __future__ import annotations

import sqlalchemy as sa
from pydiverse.pipedag import ConfigContext

from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.tasks.stores.base import TableStore


def store_of(bind: sa.Engine | sa.Connection) -> TableStore:
    """The adapter of the table store ``bind`` talks to (the portable one for an unknown dialect)."""
    dialect = dialect_of(bind)
    return TableStore.registered.get(dialect.name, TableStore)(dialect)


def store_engine() -> sa.Engine:
    """The SQLAlchemy engine of the running instance's table store, prepared for our statements
    (DuckDB's keywords quoted)."""
    engine = ConfigContext.get().store.table_store.engine
    dialect_of(engine).prepare_engine(engine)
    return engine
