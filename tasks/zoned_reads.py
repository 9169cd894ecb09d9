"""Retrieval hooks of our stores: time-zone-aware timestamps reach pandas and polars as UTC.

pipedag reads every ``TIMESTAMP`` column as a naive datetime: its pandas hook casts a
``timestamptz`` column to ``datetime64[us]`` (pandas 3 refuses: "Cannot use .astype to convert
from timezone-aware dtype to timezone-naive dtype", so the task fails with "Failed to retrieve
table"), its polars hook drops the zone of every column (``replace_time_zone(None)``, leaving
the wall time of whatever zone the session used). These mixins, in the hooks each store of
``tasks/stores/`` registers, leave such columns time-zone-aware and convert them to UTC — the instant is
what the database stores, the zone is the session's.
Naive ``timestamp`` columns stay naive.

Example::

    @pandas_transform(version="1")
    def local_time(events: pd.DataFrame) -> pd.DataFrame:
        # events["at"].dtype == datetime64[us, UTC]
        return events.assign(at_zurich=events["at"].dt.tz_convert("Europe/Zurich"))
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd
import polars as pl
from pydiverse.pipedag.backend.table.sql import hooks as sql_hooks

UTC = "UTC"


def pandas_as_utc(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its time-zone-aware columns converted to UTC (naive columns untouched)."""
    for name in df.columns:
        column = df[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or getattr(
            getattr(column.dtype, "pyarrow_dtype", None), "tz", None
        ):
            df[name] = column.dt.tz_convert(UTC)
        elif column.dtype == object and _first_value_is_zoned(column):
            df[name] = pd.to_datetime(column, utc=True)  # offsets that differ by row (DST) stay objects
    return df


def polars_as_utc(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with its time-zone-aware columns converted to UTC (naive columns untouched)."""
    zoned = [name for name, dtype in df.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone]
    return df.with_columns(pl.col(name).dt.convert_time_zone(UTC) for name in zoned) if zoned else df


def _first_value_is_zoned(column: pd.Series) -> bool:
    values = column.dropna()
    return len(values) > 0 and isinstance(values.iloc[0], dt.datetime) and values.iloc[0].tzinfo is not None


if TYPE_CHECKING:
    _Hook = Any  # the mixins go into pipedag's (untyped) table hooks
else:
    _Hook = object


class ZonedPandasRead(_Hook):
    """Mixin for pipedag's pandas hook of a dialect: no naive cast for time-zone-aware columns."""

    @classmethod
    def _adjust_cols_retrieve(cls, store: Any, cols: dict, dtypes: dict) -> tuple[dict | None, dict]:
        adjusted, dtypes = super()._adjust_cols_retrieve(store, cols, dtypes)
        zoned = {name for name, column in cols.items() if getattr(column.type, "timezone", False)}
        return adjusted, {name: dtype for name, dtype in dtypes.items() if name not in zoned}

    @classmethod
    def download_table(cls, query: Any, store: Any, dtypes: dict | None = None) -> pd.DataFrame:
        return pandas_as_utc(super().download_table(query, store, dtypes))


class ZonedPolarsRead(_Hook):
    """Mixin for pipedag's polars hook of a dialect: ``retrieve`` as pipedag's, except that it
    converts time-zone-aware columns to UTC where pipedag drops every column's zone."""

    @classmethod
    def retrieve(
        cls, store: Any, table: Any, stage_name: str | None, as_type: Any, limit: int | None = None
    ) -> pl.DataFrame:
        cfg = cls.cfg()
        df = cls._execute_query(store, table, stage_name, as_type, limit=limit)
        if not cfg.disable_retrieve_annotation_action:
            try:
                df = sql_hooks._polars_apply_retrieve_annotation(df, table, store)
            except Exception as exc:
                store.logger.error("Failed to apply retrieve annotation for table", table=table.name, exception=exc)
                if not cfg.fault_tolerant_annotation_action:
                    raise
        return polars_as_utc(df)
