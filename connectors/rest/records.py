"""JSON records to Arrow: nested objects flattened into ``parent__child`` columns or kept as JSON
text, lists as JSON text (or kept as Arrow lists), by the object's configuration.

Example::

    >>> to_table([{"id": 1, "owner": {"name": "ada"}, "tags": ["a"]}], nested="flatten", lists="json")
    pyarrow.Table  id: int64, owner__name: string, tags: string
"""

from __future__ import annotations

import json

import pyarrow as pa

SEPARATOR = "__"


def _json_text(column: pa.ChunkedArray) -> pa.Array:
    return pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())


def with_text_fields(records: pa.Array | list[dict], fields: list[str]) -> pa.Array | list[dict]:
    """``records`` with the values of ``fields`` (declared ``types: {field: string}``) as text,
    whatever JSON kind each record has there (``3`` -> ``'3'``, ``true`` -> ``'true'``), so a field
    an app fills with numbers and text alike reads as one text column."""
    if not fields or isinstance(records, pa.Array):
        return records
    return [
        {k: _text(v) if k in fields else v for k, v in record.items()} if isinstance(record, dict) else record
        for record in records
    ]


def _text(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else json.dumps(value)


def to_table(records: pa.Array | list[dict], *, nested: str, lists: str) -> pa.Table:
    """One page of records (an Arrow struct array, or dicts) as an Arrow table."""
    if isinstance(records, pa.Array):
        if not pa.types.is_struct(records.type):
            raise pa.ArrowInvalid(f"records are {records.type}, not objects")
        table = pa.Table.from_struct_array(records)
    else:
        table = pa.Table.from_pylist(records)
    if nested == "flatten":
        while any(pa.types.is_struct(f.type) for f in table.schema):
            table = table.flatten()
        table = table.rename_columns([name.replace(".", SEPARATOR) for name in table.column_names])
    for index, field in enumerate(table.schema):
        is_list = pa.types.is_list(field.type) or pa.types.is_large_list(field.type)
        if pa.types.is_struct(field.type) or (is_list and lists == "json"):
            table = table.set_column(index, field.name, _json_text(table.column(index)))
    return table


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns and types (missing columns as NULL)."""
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
