"""SQL databases: PostgreSQL, MySQL/MariaDB, SQLite, DuckDB, any SQLAlchemy URL.

Names are imported on first use (the run history needs only ``connectors.sql.metadata``'s schema
name, not the SQL readers)."""

from stagehouse.connectors.lazy import lazy_exports

_EXPORTS = {
    "SqlConnection": "stagehouse.connectors.sql.source",
    "SqlConnectionConfig": "stagehouse.connectors.sql.config",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
