"""Whether a value a user edits in fits its column, checked before the edit is logged.

Every read layers the change log's values cast to the column's type, and writeback sends them
to the app as given: a value the column cannot hold would break every read of the table, and one
of another kind (the number 12345 for a text column) would reach the app as that kind and break
its next sync. So the value must be of the column's kind in Python, and the store must cast it.

Example::

    check_fits("warehouse", engine, base_table, fitted(base_table, {"email": "ada@example.com"}))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError
from stagehouse.connectors.sql.changelog import as_json
from stagehouse.connectors.sql.native import NativeType
from stagehouse.connectors.sql.overlay import json_scalar

ANY_JSON = None
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


def fitted(base: sa.Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with a time that carries a UTC offset, meant for a column without a time zone,
    as UTC text (``'…T08:00:00Z'``): the store keeps such columns in UTC, and a cast would drop
    the offset (10:00+02:00 read as 10:00); the app gets the same instant."""
    return {column: _utc_text(value) if _is_naive_timestamp(base.c[column].type.spec) else value for column, value in values.items()}


def _utc_text(value: Any) -> Any:
    instant = value
    if isinstance(value, str):
        try:
            instant = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(instant, dt.datetime) or instant.tzinfo is None:
        return value
    return instant.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"


def check_fits(connection: str, engine: sa.Engine, base: sa.Table, values: Mapping[str, Any]) -> None:
    """Raise WarehouseError for the first value of ``values`` (column -> value) that does not fit."""
    label = f"{base.schema}.{base.name}" if base.schema else base.name
    dialect = engine.dialect.name
    for column, value in values.items():
        type_name = base.c[column].type.spec
        accepted, hint = _kind(type_name)
        wrong_kind = value is not None and accepted is not None and (
            not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted)
        )
        if wrong_kind:
            raise WarehouseError(connection, f"table '{label}'", f"{value!r} does not fit column '{column}' ({type_name}); give {hint}")
        cast = sa.cast(json_scalar(dialect, sa.literal(as_json(value), sa.Text)), NativeType(type_name))
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(cast))
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseError(connection, f"table '{label}'", f"{value!r} does not fit column '{column}' ({type_name}); give {hint}") from exc
