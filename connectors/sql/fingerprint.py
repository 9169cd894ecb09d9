"""Content fingerprints of a table or query, computed inside the source database in one pass.

A full sync is cached on ``count(*)`` and an order-independent sum of one hash per row: any
changed, deleted or inserted row changes it, and no row leaves the database. The hash takes
every column, NULL distinct from empty text. Capabilities as data: one builder per dialect; a
dialect without a cheap hash (SQLite, or any other) has none, and its full syncs always reload.

Each builder takes the relation as SQL (a quoted table name or a parenthesised query) and the
connection (MySQL needs the column names) and returns the SELECT of ``rows`` and ``content``.

Example::

    FINGERPRINTS["postgresql"](conn, '"public"."orders"')
    # SELECT count(*) AS rows, sum(hashint8extended(hash_record_extended(ROW(_sh_fp.id, _sh_fp.total::text), 0), 0)) AS
    # content
    # FROM "public"."orders" AS _sh_fp
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

ALIAS = "_sh_fp"


def literal_sql(sql: str) -> sa.TextClause:
    """``sql`` as SQLAlchemy text with no bind parameters: a ``:name`` in a query's string literal
    (``'{"a":1}'``) stays text, and a pyformat driver gets its ``%`` escaped by the compiler."""
    return sa.text(sql.replace(":", "\\:"))


# PostgreSQL types whose own hash tells stored values apart (bool, bytea, int8, int2, int4, text,
# float4, float8, bpchar, varchar, date, time, timestamp, timestamptz, uuid; floats take 0 and -0
# alike, text under a non-deterministic collation its equal spellings): hashing them as they are
# costs half of hashing their text. Any other type is hashed as its text — numeric among them,
# whose hash would take 1.5 and 1.50 as the same value.
PG_EXACT_HASH_TYPES = frozenset({16, 17, 20, 21, 23, 25, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184, 2950})


def _postgres(conn: sa.Connection, relation: str) -> str:
    """A 64-bit hash of a ROW of the columns (``hash_record_extended``, NULL-aware), each as it is
    or, for a type outside ``PG_EXACT_HASH_TYPES``, as its text, hashed once more (the record hash
    is a weighted sum of its fields' hashes: summed over rows, two rows trading a value would
    cancel out); summed as numeric (no overflow). A query naming a column twice is hashed as the
    row's text (NULL as nothing, '' as "")."""
    described: Sequence[Any] = conn.execute(
        literal_sql(f"SELECT * FROM {relation} AS {ALIAS} LIMIT 0")
    ).cursor.description
    names = [column.name for column in described]
    if len(set(names)) < len(names):
        row = f"ROW({ALIAS}.*)"
        return f"SELECT count(*) AS rows, sum(hashtextextended({row}::text, 0)) AS content FROM {relation} AS {ALIAS}"
    quote = conn.dialect.identifier_preparer.quote
    fields = [
        f"{ALIAS}.{quote(column.name)}" + ("" if column.type_code in PG_EXACT_HASH_TYPES else "::text")
        for column in described
    ]
    return (
        f"SELECT count(*) AS rows, sum(hashint8extended(hash_record_extended(ROW({', '.join(fields)}), 0), 0)) AS "
        f"content FROM {relation} AS {ALIAS}"
    )


def _duckdb(conn: sa.Connection, relation: str) -> str:
    # hash() of all columns (NULL-aware), summed as HUGEINT
    return f"SELECT count(*) AS rows, sum(hash(*COLUMNS(*))) AS content FROM {relation} AS {ALIAS}"


def _mysql(conn: sa.Connection, relation: str) -> str:
    """MySQL/MariaDB have no row-to-text: each column as bytes prefixed by its length (NULL as
    ``N``), so ``('a', NULL)``, ``(NULL, 'a')`` and ``('a,', '')`` all differ; 64 bits of MD5."""
    quote = conn.dialect.identifier_preparer.quote
    columns = conn.execute(literal_sql(f"SELECT * FROM {relation} AS {ALIAS} LIMIT 0")).keys()
    fields = [
        f"IFNULL(CONCAT(LENGTH(CAST({quote(c)} AS BINARY)), ':', CAST({quote(c)} AS BINARY)), 'N')" for c in columns
    ]
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
