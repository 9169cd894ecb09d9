"""SQLite (sources): a file database, otherwise the portable behaviour.

Example::

    dialect_named("sqlite").capabilities.file_database   # True
"""

from __future__ import annotations

from stagehouse.connectors.sql.dialects.base import Capabilities, SqlDialect


class SQLiteDialect(SqlDialect):
    """SQLite through the standard library's driver."""

    name = "sqlite"
    capabilities = Capabilities(file_database=True)
