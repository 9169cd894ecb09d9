"""PostgreSQL ``numeric`` columns read exactly, or refused: never through a double, never NaN → 0.

DuckDB's postgres scanner reads an unconstrained ``numeric`` and a ``numeric(p,s)`` with p > 38
as DOUBLE (``1.123456789012345678901234567890`` → ``1.1234567890123457``) and turns ``NaN`` and
infinities into 0, whatever the column's type. So a PostgreSQL source's numeric columns travel
as text from the source (``balance::text``, exact) and DuckDB casts each to the decimal that
holds it (``landing``): ``numeric(p,s)`` with p ≤ 38 to ``DECIMAL(p,s)``; a wider one to
``DECIMAL(38,s)``; an unconstrained one to ``DECIMAL(38,9)`` (dlt's and BigQuery's default:
29 integer digits, 9 decimals — money, rates and measurements). A value that decimal cannot
hold exactly (``NaN``, ``Infinity``, more decimals or integer digits than it has) stops the read
with ``UnrepresentableValueError``, raised from DuckDB's ``error()`` inside the same vectorised
SELECT: no Python runs per row.

Example::

    numerics = numeric_columns(engine, 'SELECT * FROM "trial"."customers"')   # {'balance': Numeric(12, 2)}
    source_sql = text_select('SELECT * FROM "trial"."customers"', columns, numerics)
    duckdb_sql = landing(f"postgres_query('src', {quote_literal(source_sql)})", columns, numerics, key=["id"])
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.arrow_metadata import with_schema
from stagehouse.connectors.errors import SourceError, first_line
from stagehouse.connectors.sql_quoting import quote_identifier

NUMERIC_OID = 1700
DUCKDB_MAX_PRECISION = 38
DEFAULT_DECIMAL = (38, 9)
MARKER = "stagehouse-unrepresentable"
SEPARATOR = "\x1f"
NOT_FINITE = ("NaN", "Infinity", "-Infinity")
DECLARED = b"stagehouse:numeric"  # field metadata: the wide numeric type a text field carries
SOURCE = b"stagehouse:source"  # stream metadata: [connection, obj, key] to name a refused row


@dataclass(frozen=True)
class Numeric:
    """A source column's declared ``numeric(precision, scale)``; both None when unconstrained."""

    precision: int | None = None
    scale: int | None = None

    @property
    def declared(self) -> str:
        """The source's type: ``numeric(40,5)``, or ``numeric``."""
        return "numeric" if self.precision is None else f"numeric({self.precision},{self.scale})"

    @property
    def wide(self) -> bool:
        """More than a DECIMAL (38 digits) holds: unconstrained, p > 38, or a scale outside 0..p."""
        return self.decimal() != (self.precision, self.scale)

    def decimal(self) -> tuple[int, int]:
        """(precision, scale) of the DECIMAL that lands it: the declared one up to 38 digits."""
        if self.precision is None or self.scale is None or self.scale < 0 or self.scale > self.precision:
            return DEFAULT_DECIMAL  # unconstrained, or a PostgreSQL 15 typmod DECIMAL has no form of
        return min(self.precision, DUCKDB_MAX_PRECISION), min(self.scale, DUCKDB_MAX_PRECISION)


class UnrepresentableValueError(SourceError):
    """A source value the store's type cannot hold exactly (NaN, too many digits): refused, not rounded."""

    def __init__(self, connection: str, obj: str, row: str, field: str, value: str, target: str) -> None:
        problem = (
            f"row {row}, field {field} holds {value}, which {target} cannot hold exactly; "
            f"nothing was committed — {_fix(field, value, target)}"
        )
        SourceError.__init__(self, connection, obj, problem)
        self.fields.update(row=row, field=field, value=value, target=target)
        self.row, self.field, self.value, self.target = row, field, value, target


def _fix(field: str, value: str, target: str) -> str:
    if value in NOT_FINITE:
        return (
            f"cast it in a query: sync(..., query=\"SELECT ..., NULLIF({field}, '{value}') AS {field} ...\") "
            f"(NULL), or {field}::float8 AS {field} (a float keeps {value})"
        )
    scale = int(target.rstrip(")").split(",")[1])
    fraction = value.partition(".")[2].rstrip("0")
    if len(fraction) > scale:
        return (
            f'round it in a query: sync(..., query="SELECT ..., round({field}, {scale}) AS {field} ..."), or declare '
            "the source column numeric(p,s) with p ≤ 38"
        )
    return (
        f'cast it in a query: sync(..., query="SELECT ..., {field}::float8 AS {field} ...") if an approximate value '
        "will do"
    )


def numeric_columns(engine: sa.Engine, sql: str) -> tuple[list[str], dict[str, Numeric]] | None:
    """The columns of ``sql``'s result and its ``numeric`` ones, from the driver's description of
    an empty result (one round trip; works for tables and queries alike). None when the source
    cannot describe it: the read then reports the source's own error."""
    try:
        raw = engine.raw_connection()
    except Exception:  # noqa: BLE001 - an unreachable source: the read itself names it
        return None
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
        description: Sequence[Any] = cur.description
        raw.rollback()
    except Exception:  # noqa: BLE001 - any driver error: the read itself will name it
        return None
    finally:
        raw.close()
    columns = [column.name for column in description]
    numerics = {
        column.name: Numeric(column.precision, column.scale)
        for column in description
        if column.type_code == NUMERIC_OID
    }
    return columns, numerics


def _literal(text: str) -> str:
    return text.replace("'", "''")


def text_select(sql: str, columns: list[str], numerics: dict[str, Numeric]) -> str:
    """``sql`` for the source with its numeric columns as text, which DuckDB cannot misread."""
    items = [
        f"q.{quote_identifier(c)}::text AS {quote_identifier(c)}" if c in numerics else f"q.{quote_identifier(c)}"
        for c in columns
    ]
    return f"SELECT {', '.join(items)} FROM ({sql}) AS q"


def _fits(column: str, precision: int, scale: int) -> str:
    """A DuckDB condition: the text of a PostgreSQL numeric holds exactly in DECIMAL(p,s)
    (PostgreSQL writes plain digits: no exponent, no leading zeros, trailing zeros kept)."""
    integer = precision - scale
    whole = "0" if integer == 0 else f"(0|[1-9][0-9]{{0,{integer - 1}}})"
    fraction = r"(\.0*)?" if scale == 0 else rf"(\.[0-9]{{0,{scale}}}0*)?"
    return f"regexp_full_match({column}, '-?{whole}{fraction}')"


def landing(relation: str, columns: list[str], numerics: dict[str, Numeric], key: list[str]) -> str:
    """A DuckDB SELECT over ``relation`` (which has the ``numerics`` columns as text) that casts each
    to its DECIMAL, or raises ``error()`` naming the row's key, the field and the value."""
    row = key or columns[:1]
    row_text = " || ', ' || ".join(
        f"'{_literal(name)}=' || coalesce(CAST({quote_identifier(name)} AS VARCHAR), 'NULL')" for name in row
    )
    items = []
    for name in columns:
        if name not in numerics:
            items.append(quote_identifier(name))
            continue
        precision, scale = numerics[name].decimal()
        target = f"DECIMAL({precision},{scale})"
        message = SEPARATOR.join(
            [MARKER, f"' || {row_text} || '", _literal(name), "' || " + quote_identifier(name) + " || '", target]
        )
        items.append(
            f"CASE WHEN {quote_identifier(name)} IS NULL OR {_fits(quote_identifier(name), precision, scale)} "
            f"THEN CAST({quote_identifier(name)} AS {target}) ELSE error('{message}') END AS {quote_identifier(name)}"
        )
    return f"SELECT {', '.join(items)} FROM {relation}"


def refused(connection: str, obj: str, exc: BaseException) -> UnrepresentableValueError | None:
    """The refusal ``landing``'s ``error()`` raised inside DuckDB's message, if it is one."""
    text = str(exc)
    if MARKER + SEPARATOR not in text:
        return None
    parts = text.split(MARKER + SEPARATOR, 1)[1].split(SEPARATOR)
    if len(parts) < 4:
        return None
    row, field, value, target = parts[:4]
    return UnrepresentableValueError(connection, obj, row, field, value, first_line(target))


@dataclass(frozen=True)
class ExactRead:
    """How a PostgreSQL table or query with numeric columns is read: ``source_sql`` sends them as
    text; ``relation`` lands them as DECIMALs, except, for an Arrow stream (``wide_as_text``),
    the wide ones (unconstrained, p > 38), which stay text tagged with their declared type: a
    PostgreSQL store keeps them as ``numeric`` exactly, a DuckDB store lands them as it reads
    them (``store_landing``)."""

    source_sql: str
    columns: list[str]
    numerics: dict[str, Numeric]
    key: list[str]

    def relation(self, source: str, wide_as_text: bool) -> str:
        """The DuckDB SELECT over ``source``, the pass-through call that runs ``source_sql``."""
        cast = {n: kind for n, kind in self.numerics.items() if not (wide_as_text and kind.wide)}
        return landing(source, self.columns, cast, self.key)

    def tagged(self, reader: pa.RecordBatchReader, connection: str, obj: str) -> pa.RecordBatchReader:
        """``reader`` (from ``relation(..., wide_as_text=True)``) with each wide field tagged by
        its declared type, and the stream by what names a refused row."""
        wide = {n: kind for n, kind in self.numerics.items() if kind.wide}
        if not wide:
            return reader
        fields = [
            f.with_metadata({**(f.metadata or {}), DECLARED: wide[f.name].declared.encode()}) if f.name in wide else f
            for f in reader.schema
        ]
        context = {SOURCE: json.dumps([connection, obj, self.key]).encode()}
        return with_schema(reader, pa.schema(fields, metadata={**(reader.schema.metadata or {}), **context}))


def declared_numerics(schema: pa.Schema) -> dict[str, Numeric]:
    """The text fields of a stream that carry a wide PostgreSQL numeric (``ExactRead.tagged``)."""
    found = {}
    for field in schema:
        if declared := (field.metadata or {}).get(DECLARED):
            precision, _, scale = declared.decode().removeprefix("numeric").strip("()").partition(",")
            found[field.name] = Numeric(int(precision), int(scale)) if precision else Numeric()
    return found


def store_landing(
    relation: str, schema: pa.Schema
) -> tuple[str, Callable[[BaseException], UnrepresentableValueError | None]]:
    """A DuckDB store's SELECT over a tagged stream ``relation``: its wide numerics cast to DECIMAL
    or refused; and how to read a refusal out of the error it raises."""
    numerics = declared_numerics(schema)
    if not numerics:
        return f"SELECT * FROM {relation}", lambda exc: None
    connection, obj, key = source_of(schema)
    return landing(relation, schema.names, numerics, key), lambda exc: refused(connection, obj, exc)


def source_of(schema: pa.Schema) -> tuple[str, str, list[str]]:
    """The connection, table or query, and key a tagged stream came from (to name a refused row)."""
    connection, obj, key = json.loads((schema.metadata or {}).get(SOURCE, b'["?", "?", []]'))
    return connection, obj, key
