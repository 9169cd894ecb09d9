"""MySQL/MariaDB ``DECIMAL(p,s)`` wider than 38 digits: refused before a read, never rounded.

DuckDB's MySQL extension reads a decimal of more than 38 digits (``DECIMAL(39,4)``,
``DECIMAL(65,30)``) as DOUBLE, so ``12345678901234567.1234`` would land as
``1.2345678901234568e+16``. The driver's description of the relation (already asked for the
zero-date check) gives each decimal's display length and scale, from which its precision
follows; a wider one stops the read with one line naming the column and two queries that work.

Example::

    refuse_wide_decimals("shop", "table 'orders'", cursor)
    # WideDecimalError: connection 'shop', table 'orders': column 'total' is decimal(39,4), ...
"""

from __future__ import annotations

from typing import Any

from stagehouse.connectors.errors import SourceError

NEWDECIMAL = 246  # the MySQL protocol's type code of DECIMAL
UNSIGNED_FLAG = 32  # the MySQL protocol's column flag of an UNSIGNED column
MAX_EXACT_DIGITS = 38  # DuckDB's widest DECIMAL


class WideDecimalError(SourceError):
    """A source DECIMAL wider than DuckDB reads exactly: names the column, its type and the fix."""

    def __init__(self, connection: str, obj: str, column: str, precision: int, scale: int) -> None:
        declared = f"decimal({precision},{scale})"
        narrowed = f"DECIMAL({MAX_EXACT_DIGITS},{min(scale, MAX_EXACT_DIGITS)})"
        problem = (
            f"column '{column}' is {declared}, more digits than the {MAX_EXACT_DIGITS} a store reads exactly "
            f"(it would arrive rounded through a double); sync a query= that reads CAST({column} AS {narrowed}) AS "
            f"{column} if its values fit, or CAST({column} AS CHAR) AS {column} to keep every digit as text"
        )
        SourceError.__init__(self, connection, obj, problem)
        self.fields.update(column=column, declared=declared)


def refuse_wide_decimals(connection: str, obj: str, cursor: Any) -> None:
    """Raise ``WideDecimalError`` for the first DECIMAL column of ``cursor``'s result (a PyMySQL
    cursor that ran the relation with ``LIMIT 0``) with more than 38 digits."""
    fields = getattr(getattr(cursor, "_result", None), "fields", None) or []
    for index, column in enumerate(cursor.description):
        name, code, _, length, _, scale = column[:6]
        if code != NEWDECIMAL or length is None:
            continue
        unsigned = index < len(fields) and bool(fields[index].flags & UNSIGNED_FLAG)
        precision = length - (1 if scale else 0) - (0 if unsigned else 1)  # the length counts the point and sign
        if precision > MAX_EXACT_DIGITS:
            raise WideDecimalError(connection, obj, name, precision, scale or 0)
