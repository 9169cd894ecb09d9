"""Tasks: pipedag tasks built from connectors — sync sources, transform tables.

Plain ``@materialize`` tasks mix freely with these; Stagehouse adds to pipedag, it does not hide it.
Importing this package makes plain ``flow.run()`` use the project's pipedag.yaml (resolved, on the
default instance) and quiets pipedag's logging.

Example::

    from pydiverse.pipedag import Flow, Stage
    from stagehouse.tasks import sync, sql_transform

    with Flow("demo") as flow:
        with Stage("raw"):
            flights = sync("nyc", "flights.csv.zip")
"""

import stagehouse.tasks.stores  # noqa: F401  (registers the DuckDB and PostgreSQL table stores and their hooks)
from stagehouse.tasks import default_config, quiet_logging
from stagehouse.tasks.arrow_stream import ArrowStream
from stagehouse.tasks.connections import connection, names_connections
from stagehouse.tasks.errors import StoreWriteError, TaskDefinitionError
from stagehouse.tasks.replicate import replicate
from stagehouse.tasks.state import get_state, set_state, stateful
from stagehouse.tasks.sync import sync
from stagehouse.tasks.transform import TableRef, pandas_transform, polars_transform, sql_transform
from stagehouse.tasks.writeback import writeback

default_config.install()  # plain flow.run() / visualize_url() use the project's resolved pipedag.yaml
quiet_logging.quiet_by_default()  # pipedag's INFO/IPC lines only with $STAGEHOUSE_LOG_LEVEL

__all__ = [
    "ArrowStream",
    "StoreWriteError",
    "TableRef",
    "TaskDefinitionError",
    "connection",
    "get_state",
    "names_connections",
    "pandas_transform",
    "polars_transform",
    "replicate",
    "set_state",
    "sql_transform",
    "stateful",
    "sync",
    "writeback",
]
