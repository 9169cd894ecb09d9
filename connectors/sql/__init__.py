"""SQL databases: PostgreSQL, MySQL/MariaDB, SQLite, DuckDB, any SQLAlchemy URL."""

from connectors.sql.config import SqlConnectionConfig
from connectors.sql.source import SqlConnection

__all__ = ["SqlConnection", "SqlConnectionConfig"]
