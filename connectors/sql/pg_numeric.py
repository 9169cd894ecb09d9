"""PostgreSQL ``numeric`` columns read through ADBC as decimals, as DuckDB gives them.

ADBC's PostgreSQL driver returns ``numeric`` as text (an opaque extension type over strings),
so ``fetch`` on a PostgreSQL store gave ``'99.99'`` where a DuckDB store gives
``Decimal('99.99')``. The driver tags each such field with its type modifier; a declared
``numeric(p,s)`` casts exactly to ``decimal(p,s)``, an unconstrained ``numeric`` to the narrowest
decimal that holds every value of the result (text only past 76 digits, Arrow's widest decimal).

Example::

    typed_numerics(cur.fetch_arrow_table())   # column 'total': decimal128(10, 2), Decimal('99.99')
"""

from __future__ import annotations

import decimal

import pyarrow as pa

TYPNAME = b"ADBC:postgresql:typname"
TYPMOD = b"POSTGRESQL:typmod"
VARHDRSZ = 4
MAX_DIGITS = 76


def typed_numerics(table: pa.Table) -> pa.Table:
    """``table`` with every PostgreSQL ``numeric`` column cast from text to a decimal type."""
    columns = {}
    for index, field in enumerate(table.schema):
        if (field.metadata or {}).get(TYPNAME) == b"numeric":
            column = table.column(index)
            text = pa.chunked_array(
                [chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk for chunk in column.chunks],
                pa.string(),
            )
            kind = _declared(field) or _fitting(text)
            columns[index] = (
                pa.field(field.name, kind or pa.string(), field.nullable),
                text if kind is None else text.cast(kind),
            )
    for index, (field, column) in columns.items():
        table = table.set_column(index, field, column)
    return table


def _declared(field: pa.Field) -> pa.DataType | None:
    """``decimal(p,s)`` of a declared ``numeric(p,s)`` (its type modifier), else None."""
    typmod = int((field.metadata or {}).get(TYPMOD, b"-1"))
    if typmod < VARHDRSZ:
        return None
    precision, scale = ((typmod - VARHDRSZ) >> 16) & 0xFFFF, (typmod - VARHDRSZ) & 0xFFFF
    return _decimal(precision, scale) if 0 <= scale <= precision else None


def _fitting(text: pa.ChunkedArray) -> pa.DataType | None:
    """The narrowest decimal holding every value of an unconstrained ``numeric`` (None: text)."""
    integer_digits = scale = 0
    for value in text.to_pylist():
        if value is None:
            continue
        parsed = decimal.Decimal(value)
        if not parsed.is_finite():
            return None  # NaN and infinities have no decimal form
        sign, digits, exponent = parsed.as_tuple()
        assert isinstance(exponent, int)  # a finite number's exponent
        scale = max(scale, -exponent)
        integer_digits = max(integer_digits, len(digits) + exponent)
    return _decimal(max(integer_digits + scale, 1), scale)


def _decimal(precision: int, scale: int) -> pa.DataType | None:
    if precision > MAX_DIGITS:
        return None
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
