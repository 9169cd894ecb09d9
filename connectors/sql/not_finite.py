"""PostgreSQL ``numeric`` NaN and ±Infinity refused in a store table before its commit.

A PostgreSQL store's numeric column can hold them, but nothing after it reads them back: Arrow's
and DuckDB's decimals have no such value (``fetch`` fails, DuckDB's postgres scanner reads NaN as
0, so ``stagehouse query`` shows 0.00). A sync into a PostgreSQL store therefore refuses them as
it does into a DuckDB store: one scan of the landed table, only when it has numeric columns (or
wide numerics still as text), inside the transaction that would commit them.

Example::

    refuse_not_finite(cur, '"raw__tmp"."accounts"', ["balance"], Named("shop", "table 'accounts'", ["id"]))
    # UnrepresentableValueError: connection 'shop', table 'accounts': row id=3, field balance holds NaN, ...
"""

from __future__ import annotations

from dataclasses import dataclass

from stagehouse.connectors.sql.exact_numerics import UnrepresentableValueError
from stagehouse.connectors.sql_quoting import quote_identifier, quote_literal

INFINITE_NUMERIC = 140000  # server_version_num from which numeric holds ±Infinity
TARGET = "a decimal (what Arrow, fetch and DuckDB read a numeric as)"


@dataclass(frozen=True)
class Named:
    """What a refusal names: the connection, the table or query, and the columns that name a row."""

    connection: str
    obj: str
    row: list[str]


def refuse_not_finite(cur, into: str, columns: list[str], named: Named, infinities: bool = True) -> None:
    """Raise ``UnrepresentableValueError`` for the first row of ``into`` whose ``columns`` (numeric,
    or the text a wide numeric travels as) hold NaN, or ±Infinity when ``infinities`` (a server
    older than PostgreSQL 14 has none, nor a literal for them). ``cur``: a DB-API cursor."""
    if not columns:
        return
    specials = "'NaN', 'Infinity', '-Infinity'" if infinities else "'NaN'"
    tests = [(name, f"{quote_identifier(name)} IN ({specials})") for name in columns]
    row = " || ', ' || ".join(
        f"{quote_literal(name + '=')} || coalesce({quote_identifier(name)}::text, 'NULL')"
        for name in named.row or columns[:1]
    )
    field = " ".join(f"WHEN {test} THEN {quote_literal(name)}" for name, test in tests)
    value = " ".join(f"WHEN {test} THEN {quote_identifier(name)}::text" for name, test in tests)
    cur.execute(
        f"SELECT {row}, CASE {field} END, CASE {value} END FROM {into} "
        f"WHERE {' OR '.join(test for _, test in tests)} LIMIT 1"
    )
    found = cur.fetchone()
    if found is not None:
        row_named, field_named, value_found = found
        raise UnrepresentableValueError(named.connection, named.obj, row_named, field_named, value_found, TARGET)
