"""Whether a value a user edits in fits its column, checked before the edit is logged.

Every read layers the change log's values cast to the column's type, and writeback sends them
to the app as given: a value the column cannot hold would break every read of the table, and one
of another kind (the number 12345 for a text column) would reach the app as that kind and break
its next sync. So the value must be of the column's kind in Python, and the store must cast it
without changing it: a cast that rounds ``1.234`` into a ``numeric(12,2)`` would show users 1.23
while writeback sent the app 1.234. A ``varchar(n)`` keeps at most n characters, also on a
DuckDB store, whose VARCHAR has no length: there the length the source declared counts (kept in
the store's catalog by the sync, ``catalog.declared_lengths``).

Example::

    check_fits("warehouse", engine, base_table, fitted(base_table, {"email": "ada@example.com"}))
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError
from stagehouse.connectors.sql.changelog import as_json
from stagehouse.connectors.sql.described import NativeType, native_spec
from stagehouse.connectors.sql.dialects import dialect_of

ANY_JSON = None
DECIMAL = re.compile(r"^(numeric|decimal)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.IGNORECASE)
LENGTH = re.compile(r"^(character varying|varchar|nvarchar)\s*\((\d+)\)$", re.IGNORECASE)
# (words of the store's type name, the Python values a column of that type takes, what to give);
# the first row whose word is in the lower-cased type name decides
KINDS: tuple[tuple[tuple[str, ...], tuple[type, ...] | None, str], ...] = (
    (("[]", "array", "struct", "map", "json", "list", "union"), ANY_JSON, "a JSON value"),
    (("interval", "time", "date"), (str, dt.date, dt.datetime, dt.time, dt.timedelta), "a date/time or its ISO text"),
    (("char", "text", "string", "uuid", "enum"), (str,), "a string"),
    (("bool",), (bool,), "True or False"),
    (("numeric", "decimal", "double", "real", "float"), (int, float, Decimal), "a number"),
    (("int",), (int,), "a whole number"),  # DuckDB would round 2.5 into 3 while the app got 2.5
)


def _kind(type_name: str) -> tuple[tuple[type, ...] | None, str]:
    lowered = type_name.lower()
    for words, accepted, hint in KINDS:
        if any(word in lowered for word in words):
            return accepted, hint
    return ANY_JSON, f"a {type_name} value"


def _is_naive_timestamp(type_name: str) -> bool:
    lowered = type_name.lower()
    return "timestamp" in lowered and "with time zone" not in lowered and "tz" not in lowered


def _is_zoned_timestamp(type_name: str) -> bool:
    return "timestamp" in type_name.lower() and not _is_naive_timestamp(type_name)


def fitted(base: sa.Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with their times as UTC text (``'…T08:00:00Z'``) where the column and the value
    disagree about a time zone: a time with a UTC offset, for a column without one (the store keeps
    such columns in UTC, and a cast would drop the offset: 10:00+02:00 read as 10:00); and a time
    without an offset, for a column with one (the store reads it as UTC, so the app must get it so,
    not as a local time it would read in its own zone). The app gets the instant the grid shows."""
    fitted_values = {}
    for column, value in values.items():
        type_name = native_spec(base.c[column].type)
        if _is_naive_timestamp(type_name):
            value = _utc_text(value, naive=False)
        elif _is_zoned_timestamp(type_name):
            value = _utc_text(value, naive=True)
        fitted_values[column] = value
    return fitted_values


def _utc_text(value: Any, *, naive: bool) -> Any:
    """``value`` as UTC text when it is a time whose offset is missing (``naive``) or present (not
    ``naive``); other values as they are."""
    instant = value
    if isinstance(value, str):
        try:
            instant = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(instant, dt.datetime) or (instant.tzinfo is None) != naive:
        return value
    return (instant if naive else instant.astimezone(dt.UTC).replace(tzinfo=None)).isoformat() + "Z"


def check_fits(
    connection: str,
    engine: sa.Engine,
    base: sa.Table,
    values: Mapping[str, Any],
    row: Any,
    lengths: Mapping[str, int] | None = None,
) -> None:
    """Raise WarehouseError for the first value of ``values`` (column -> value) of the row keyed
    ``row`` that does not fit; ``lengths`` are declared lengths the store's types do not carry."""
    label = f"{base.schema}.{base.name}" if base.schema else base.name
    dialect = dialect_of(engine)
    for column, value in values.items():
        type_name = native_spec(base.c[column].type)
        accepted, hint = _kind(type_name)
        wrong_kind = (
            value is not None
            and accepted is not None
            and (not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted))
        )
        where = f"row {row!r}: {value!r} does not fit column '{column}' ({type_name})"
        if wrong_kind:
            raise WarehouseError(connection, f"table '{label}'", f"{where}; give {hint}")
        changed = _changed_by(type_name, value, (lengths or {}).get(column))
        if changed is not None:
            raise WarehouseError(connection, f"table '{label}'", f"{where}: {changed}")
        cast = sa.cast(dialect.json_scalar(sa.literal(as_json(value), sa.Text)), NativeType(type_name))
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(cast))
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(connection, f"table '{label}'", f"{where}; give {hint}") from exc


def _changed_by(type_name: str, value: Any, declared_length: int | None) -> str | None:
    """How storing ``value`` in a column of ``type_name`` would change it (None: it would not)."""
    if isinstance(value, (float, Decimal)) and not math.isfinite(value):
        return "NaN and infinities are no JSON value (the change log and the app's API carry JSON); give a number"
    if type_name.strip().lower() == "date" and (day := _date_of(value)) is not None:
        return f"a date keeps no time of day and would store {day.isoformat()}; give the date alone"
    if (
        isinstance(value, (int, float, Decimal))
        and not isinstance(value, bool)
        and (found := DECIMAL.match(type_name.strip()))
    ):
        precision, scale = int(found.group(2)), int(found.group(3))
        number = Decimal(str(value))
        if not number.is_finite():
            return None  # the cast refuses it
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # a finite number's exponent
        places = max(0, -exponent)
        if places > scale:
            return f"it keeps {scale} decimal places and would store {round(number, scale)}; round the value first"
        whole = len(str(abs(int(number)))) if int(number) else 0
        if whole > precision - scale:
            return f"it holds at most {precision - scale} digits before the point; give a smaller number"
    if isinstance(value, str):
        found = LENGTH.match(type_name.strip())
        length = int(found.group(2)) if found else declared_length
        if length is not None and len(value) > length:
            limit = f"it holds {length}" if found else f"the source declares varchar({length})"
            return f"{len(value)} characters, {limit}; shorten the value"
    return None


def _date_of(value: Any) -> dt.date | None:
    """The day of ``value`` when it is a date-time (or its ISO text) with a time of day, else None."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if "T" in value or " " in value.strip() else value
        except ValueError:
            return None
    if isinstance(value, dt.datetime) and value.timetz().replace(tzinfo=None) != dt.time(0):
        return value.date()
    return None
