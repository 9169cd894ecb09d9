"""Types for JSON text fields: ISO-8601 timestamps become Arrow timestamps, the rest stays text.

JSON has no timestamp type, so an API sends ``"2024-05-01T10:00:00.123Z"`` as a string. A text
field whose every value in the batch (the pages the schema is decided from) is a date and time
becomes ``timestamp[us, UTC]`` when all of them carry an offset or ``Z`` (the store's
``timestamp with time zone``), ``timestamp[us]`` when none does; mixed or unparsable values keep
it text. An object's ``types: {field: string}`` keeps a field text, ``{field: timestamp}``
requires it to parse, and ``detect_timestamps: false`` turns detection off for the object.

Example::

    decide(tables, schema, types={}, detect=True)   # updated_at: string -> timestamp[us, tz=UTC]
    first_unparsed(column, pa.timestamp("us", "UTC"))   # 'yesterday'
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP, TIMESTAMP_TZ = pa.timestamp("us"), pa.timestamp("us", tz="UTC")
DATE_AND_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"  # a bare date or time stays text


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def timestamp_type(values: pa.ChunkedArray | pa.Array) -> pa.DataType | None:
    """The timestamp type every non-NULL value of text ``values`` parses as (with a time zone when
    all carry an offset, without when none does); None when some value does not parse or the
    values are all NULL."""
    present = pc.drop_null(values)
    if len(present) == 0 or not pc.all(pc.match_substring_regex(present, DATE_AND_TIME)).as_py():
        return None
    for kind in (TIMESTAMP_TZ, TIMESTAMP):
        try:
            present.cast(kind)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def decide(tables: list[pa.Table], schema: pa.Schema, types: Mapping[str, str], detect: bool) -> pa.Schema:
    """``schema`` with the text fields of ``tables`` typed: ``types`` first (``string`` keeps a
    field text, whatever JSON type it came as; ``timestamp`` types it by its values), then, with
    ``detect``, each text field whose values are all timestamps."""
    fields = []
    for field in schema:
        wanted = types.get(field.name)
        if wanted == "string":
            fields.append(field.with_type(pa.string()))
            continue
        if _is_text(field.type) and (detect or wanted == "timestamp"):
            columns = [t.column(field.name) for t in tables if field.name in t.column_names]
            values = [column for column in columns if _is_text(column.type)]
            chunks = [c for v in values for c in v.chunks]
            found = timestamp_type(pa.chunked_array(chunks, type=field.type)) if values else None
            if found is None and wanted == "timestamp":
                found = TIMESTAMP_TZ  # required: a value that does not parse fails conform, named
            fields.append(field.with_type(found) if found is not None else field)
            continue
        fields.append(field)
    return pa.schema(fields)


def first_unparsed(values: pa.ChunkedArray | pa.Array, kind: pa.DataType) -> str | None:
    """The first non-NULL text value that does not parse as ``kind`` (None if all do)."""
    for value in pc.drop_null(values).to_pylist():
        try:
            pa.scalar(value).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return value
    return None
