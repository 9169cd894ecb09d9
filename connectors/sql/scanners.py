"""How DuckDB attaches each kind of database: capabilities as data, one entry per backend.

A backend not listed here is read through SQLAlchemy instead (``connectors.sql.generic``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import URL

from stagehouse.connectors.sql_quoting import quote_literal


def _keywords(quote: bool, **pairs: object) -> str:
    """A ``key=value`` connection string; libpq takes quoted values, DuckDB's MySQL parser bare ones."""
    parts = []
    for key, value in pairs.items():
        if value is None or value == "":
            continue
        text = str(value)
        if quote:
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _postgres_target(url: URL) -> str:
    return _keywords(
        True, host=url.host or "localhost", port=url.port, user=url.username, password=url.password, dbname=url.database
    )


def _mysql_target(url: URL) -> str:
    return _keywords(
        False,
        host=url.host or "localhost",
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )


def _file_target(url: URL) -> str:
    return url.database or ":memory:"


@dataclass(frozen=True)
class Scanner:
    """How to ATTACH one backend in DuckDB and how to run a query written in its own dialect."""

    extension: str | None
    attach_type: str | None
    target: Callable[[URL], str]
    default_schema: Callable[[URL], str]
    passthrough_function: str | None
    settings: str = ""  # run before the ATTACH: how the extension maps the backend's types

    def attach_sql(self, url: URL, alias: str) -> str:
        options = ["READ_ONLY"]
        if self.attach_type:
            options.insert(0, f"TYPE {self.attach_type}")
        return f"{self.settings}ATTACH {quote_literal(self.target(url))} AS {alias} ({', '.join(options)})"


# MySQL's tinyint(1) holds -128..127 (a 2 is a 2), though its drivers call it boolean: the
# extension's default would read 2 as true
MYSQL_SETTINGS = "SET GLOBAL mysql_tinyint1_as_boolean = false; "


SCANNERS: dict[str, Scanner] = {
    "postgresql": Scanner("postgres", "postgres", _postgres_target, lambda url: "public", "postgres_query"),
    "mysql": Scanner("mysql", "mysql", _mysql_target, lambda url: url.database or "", "mysql_query", MYSQL_SETTINGS),
    "mariadb": Scanner("mysql", "mysql", _mysql_target, lambda url: url.database or "", "mysql_query", MYSQL_SETTINGS),
    "sqlite": Scanner("sqlite", "sqlite", _file_target, lambda url: "main", None),
    "duckdb": Scanner(None, None, _file_target, lambda url: "main", None),
}
