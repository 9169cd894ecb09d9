"""One adapter per SQL dialect, picked from the dialect's name by a registry.

Each module here subclasses ``SqlDialect`` (``base.py``) for one SQLAlchemy dialect name and so
registers it; everything else asks ``dialect_of(engine)`` and never compares dialect names.
A dialect without a module gets the portable behaviour (``SqlDialect``) under its own name.
To add one (e.g. Snowflake): a module with its ``SqlDialect`` subclass, and its import below.

Example::

    dialect_of(engine).capabilities.one_transaction_load  # True on DuckDB
    bulk_dialects()                                        # ['duckdb', 'postgresql']
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from stagehouse.connectors.sql.dialects import duckdb, mysql, postgres, sqlite  # noqa: F401  (each registers its dialect)
from stagehouse.connectors.sql.dialects.base import Capabilities, SqlDialect

__all__ = ["Capabilities", "SqlDialect", "bulk_dialects", "dialect_named", "dialect_of"]


@cache
def dialect_named(name: str) -> SqlDialect:
    """The adapter of the SQLAlchemy dialect ``name`` (a URL's backend name: ``postgresql``)."""
    adapter = SqlDialect.registered.get(name)
    return adapter() if adapter is not None else SqlDialect(name)


def dialect_of(bind: sa.Engine | sa.Connection | sa.engine.Dialect | SqlDialect | str) -> SqlDialect:
    """The adapter of the database ``bind`` talks to (an adapter or a dialect name as it is, or looked up)."""
    if isinstance(bind, SqlDialect):
        return bind
    if isinstance(bind, str):
        return dialect_named(bind)
    dialect = bind if isinstance(bind, sa.engine.Dialect) else bind.dialect
    return dialect_named(dialect.name)


def bulk_dialects() -> list[str]:
    """The dialects a table can be bulk-written to, in registration order (for messages)."""
    return [name for name, adapter in SqlDialect.registered.items() if adapter.capabilities.bulk_load]
