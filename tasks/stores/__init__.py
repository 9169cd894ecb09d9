"""One adapter per table store dialect, picked from the store engine's dialect by a registry.

Each module registers pipedag's table store subclass for its dialect (``SQLTableStore`` in
pipedag.yaml creates it once ``tasks`` is imported) and a ``TableStore`` adapter for the tasks
(bulk writes, temporary landing, bulk settings). To add a store (e.g. Snowflake): a module with
both, its import below, and its SQL facts in ``connectors/sql/dialects/``.

Example::

    store_of(store_engine()).capabilities.renameable_keyed_tables   # False on DuckDB
"""

from __future__ import annotations

from stagehouse.tasks.stores import duckdb, postgres  # noqa: F401  (each registers its store)
from stagehouse.tasks.stores.base import InPlace, TableStore
from stagehouse.tasks.stores.engine import store_engine, store_of

__all__ = ["InPlace", "TableStore", "store_engine", "store_of"]
