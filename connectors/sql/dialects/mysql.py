"""MySQL and MariaDB (sources): ``varchar(n)`` refuses longer values, as on PostgreSQL.

Example::

    dialect_named("mariadb").capabilities.enforces_lengths   # True
"""

from __future__ import annotations

from stagehouse.connectors.sql.dialects.base import Capabilities, SqlDialect


class MySQLDialect(SqlDialect):
    """MySQL through PyMySQL."""

    name = "mysql"
    capabilities = Capabilities(enforces_lengths=True)


class MariaDBDialect(MySQLDialect):
    """MariaDB: SQLAlchemy names its dialect apart, the capabilities are MySQL's."""

    name = "mariadb"
