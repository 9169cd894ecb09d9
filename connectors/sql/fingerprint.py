"""Content fingerprints of a table or query, computed inside the source database in one pass.

A full sync is cached on ``count(*)`` and an order-independent sum of one hash per row: any
changed, deleted or inserted row changes it, and no row leaves the database. The hash takes
every column, NULL distinct from empty text. Capabilities as data: one builder per dialect; a
dialect without a cheap hash (SQLite, or any other) has none, and its full syncs always reload.

Each builder takes the relation as SQL (a quoted table name or a parenthesised query) and the
connection (MySQL needs the column names) and returns the SELECT of ``rows`` and ``content``.

Example::

    FINGERPRINTS["postgresql"](conn, '"public"."orders"')
    # SELECT count(*) AS rows, sum(hashtextextended(ROW(_sh_fp.*)::text, 0)) AS content FROM "public"."orders" AS _sh_fp
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

ALIAS = "_sh_fp"


def _postgres(conn: sa.Connection, relation: str) -> str:
    # the record's text form writes NULL as nothing and '' as "": 64-bit hash, summed as numeric (no overflow)
    return f"SELECT count(*) AS rows, sum(hashtextextended(ROW({ALIAS}.*)::text, 0)) AS content FROM {relation} AS {ALIAS}"


def _duckdb(conn: sa.Connection, relation: str) -> str:
    # hash() of all columns (NULL-aware), summed as HUGEINT
    return f"SELECT count(*) AS rows, sum(hash(*COLUMNS(*))) AS content FROM {relation} AS {ALIAS}"


def _mysql(conn: sa.Connection, relation: str) -> str:
    """MySQL/MariaDB have no row-to-text: each column as bytes prefixed by its length (NULL as
    ``N``), so ``('a', NULL)``, ``(NULL, 'a')`` and ``('a,', '')`` all differ; 64 bits of MD5."""
    quote = conn.dialect.identifier_preparer.quote
    columns = conn.execute(sa.text(f"SELECT * FROM {relation} AS {ALIAS} LIMIT 0")).keys()
    fields = [f"IFNULL(CONCAT(LENGTH(CAST({quote(c)} AS BINARY)), ':', CAST({quote(c)} AS BINARY)), 'N')" for c in columns]
    row = f"CONCAT_WS(',', {', '.join(fields)})"
    return (
        f"SELECT count(*) AS `rows`, sum(CAST(CONV(LEFT(MD5({row}), 16), 16, 10) AS UNSIGNED)) AS content "
        f"FROM {relation} AS {ALIAS}"
    )


FINGERPRINTS: dict[str, Callable[[sa.Connection, str], str]] = {
    "postgresql": _postgres,
    "duckdb": _duckdb,
    "mysql": _mysql,
    "mariadb": _mysql,
}
