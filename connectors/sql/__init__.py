"""SQL databases: PostgreSQL, MySQL/MariaDB, SQLite, DuckDB, any SQLAlchemy URL.

Names are imported on first use (the run history needs only ``connectors.sql.metadata``'s schema
name, not the SQL readers)."""

from importlib import import_module

_EXPORTS = {"SqlConnection": "connectors.sql.source", "SqlConnectionConfig": "connectors.sql.config"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'connectors.sql' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
