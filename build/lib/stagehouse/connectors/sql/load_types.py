"""Types for tables that ``write`` creates: JSON-schema ``object_schema`` -> Arrow -> SQL.

Example::

    arrow_schema_from_object_schema({"properties": {"id": {"type": "integer"},
                                                    "at": {"type": "string", "format": "date-time"}}})
    sql_type(pa.int64())   # sa.BigInteger()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

JSON_TYPES = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(), "string": pa.string()}
STRING_FORMATS = {"date-time": pa.timestamp("us", tz="UTC"), "date": pa.date32()}


def _arrow_type(spec: Mapping[str, Any]) -> pa.DataType:
    kinds = spec.get("type", "string")
    kinds = [k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"] or ["string"]
    kind = kinds[0]
    if kind == "string" and spec.get("format") in STRING_FORMATS:
        return STRING_FORMATS[spec["format"]]
    return JSON_TYPES.get(kind, pa.string())


def arrow_schema_from_object_schema(object_schema: Mapping[str, Any]) -> pa.Schema:
    """A JSON schema (``{"properties": {...}}``, or the properties mapping itself) as Arrow fields."""
    properties = object_schema.get("properties", object_schema)
    return pa.schema([pa.field(name, _arrow_type(spec)) for name, spec in properties.items()])


def sql_type(kind: pa.DataType) -> sa.types.TypeEngine:
    """The SQL column type a new table gets for an Arrow type (text for anything unusual)."""
    if pa.types.is_boolean(kind):
        return sa.Boolean()
    if pa.types.is_integer(kind):
        return sa.BigInteger()
    if pa.types.is_floating(kind):
        return sa.Double()
    if pa.types.is_decimal(kind):
        return sa.Numeric(kind.precision, kind.scale)
    if pa.types.is_timestamp(kind):
        return sa.DateTime(timezone=kind.tz is not None)
    if pa.types.is_date(kind):
        return sa.Date()
    return sa.Text()
