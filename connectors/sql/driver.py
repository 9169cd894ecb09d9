"""The database driver's own connection under a SQLAlchemy connection, for what only the driver
does (DuckDB's Arrow results and registered views, a DuckDB cursor of its own).

Example::

    with engine.connect() as conn:
        driver_connection(conn).register("rows", arrow_table)
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["driver_connection"]


def driver_connection(conn: sa.Connection) -> Any:
    """``conn``'s driver connection (a ``duckdb.DuckDBPyConnection``, a psycopg or PyMySQL one)."""
    driver = conn.connection.driver_connection
    if driver is None:  # only after the pooled connection was invalidated
        raise sa.exc.ResourceClosedError("the database connection is closed")
    return driver
