"""Turn an Arrow result into what ``fetch`` promises: records, a pandas or a polars DataFrame.

Peliqan's ``fetch`` options (``pq`` module), applied on the Arrow table before conversion so they cost one
vectorised pass:

- ``tz``: timezone-aware timestamps shown in this zone (naive ones are taken as UTC).
- ``enable_datetime_as_string``: dates and timestamps as ISO-8601 text.
- ``enable_python_types``: records hold Python objects (``datetime``, ``Decimal``); when False,
  JSON-ready values instead (decimals as float, dates and timestamps as ISO text).
- ``fillna_with`` / ``fillnat_with``: the value that replaces NULL (and NaN) in non-date columns /
  in date and timestamp columns.

Example::

    shaped(arrow_table, df=True, tz="Europe/Brussels", fillna_with="")
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def _is_temporal(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) or pa.types.is_date(kind)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_date(kind):
        return pc.strftime(column, format="%Y-%m-%d")
    if pa.types.is_timestamp(kind) and kind.tz:
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S%z")
    return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")


def _converted(table: pa.Table, tz: str | None, datetime_as_string: bool, python_types: bool) -> pa.Table:
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if tz and pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp(kind.unit, tz=kind.tz or "UTC")).cast(pa.timestamp(kind.unit, tz=tz))
        if _is_temporal(column.type) and (datetime_as_string or not python_types):
            column = _as_text(column)
        elif pa.types.is_decimal(kind) and not python_types:
            column = column.cast(pa.float64())
        columns.append((name, column))
    return pa.table(dict(columns))


def shaped(
    table: pa.Table,
    *,
    df: bool = False,
    polars: bool = False,
    fillna_with: Any = None,
    fillnat_with: Any = None,
    enable_python_types: bool = True,
    enable_datetime_as_string: bool = False,
    tz: str | None = None,
) -> Any:
    """``table`` as records (default), a pandas DataFrame (``df=True``) or polars (``polars=True``)."""
    temporal = {name for name, kind in zip(table.column_names, table.schema.types, strict=True) if _is_temporal(kind)}
    table = _converted(table, tz, enable_datetime_as_string, enable_python_types)
    if polars:
        import polars as pl

        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)  # a table, not an array
        if fillna_with is not None:
            frame = (
                frame.with_columns(pl.exclude(*temporal).fill_null(fillna_with))
                if temporal
                else frame.fill_null(fillna_with)
            )
        if fillnat_with is not None and temporal:
            frame = frame.with_columns(pl.col(*temporal).fill_null(fillnat_with))
        return frame
    if df:
        frame = table.to_pandas()
        if fillna_with is not None:
            other = [c for c in frame.columns if c not in temporal]
            frame[other] = frame[other].astype(object).where(frame[other].notna(), fillna_with)
        if fillnat_with is not None and temporal:
            cols = list(temporal)
            frame[cols] = frame[cols].astype(object).where(frame[cols].notna(), fillnat_with)
        return frame
    records = table.to_pylist()
    if fillna_with is not None or fillnat_with is not None:
        for record in records:
            for key, value in record.items():
                if value is None or value != value:
                    replacement = fillnat_with if key in temporal else fillna_with
                    if replacement is not None:
                        record[key] = replacement
    return records
