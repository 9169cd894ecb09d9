"""Transform decorators: a function over upstream tables becomes a cached pipedag task.

Each decorator names the output table after the function, sets its primary key, and picks the
caching that suits the language:

- ``sql_transform``: the function returns a SELECT; it runs inside the store as
  ``CREATE TABLE AS`` (lazy: re-run only when the generated SQL or its inputs change).
- ``polars_transform``: inputs arrive as ``pl.LazyFrame``; versioned by ``AUTO_VERSION``, so
  editing the function's logic is noticed without a manual version bump.
- ``pandas_transform``: inputs arrive as ``pd.DataFrame``; cached by the ``version`` you give.

Example::

    @sql_transform(primary_key=["carrier", "month"])
    def delays(flights):
        return f"SELECT carrier, month, avg(arr_delay) AS delay FROM {flights} GROUP BY ALL"

    @polars_transform()
    def late(flights: pl.LazyFrame) -> pl.LazyFrame:
        return flights.filter(pl.col("arr_delay") > 60)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import pandas as pd
import polars as pl
import sqlalchemy as sa
from pydiverse.pipedag import AUTO_VERSION, ConfigContext, Table, materialize

from stagehouse.tasks.errors import TaskDefinitionError
from stagehouse.tasks.keys import physical_key
from stagehouse.tasks.stage_metadata import declare_key


class TableRef(str):
    """An input table as it is written in SQL: the quoted, schema-qualified name.

    Formatting it into an f-string gives ``"stage"."table"``; ``.table`` is the SQLAlchemy object.
    """

    table: sa.Table

    def __new__(cls, table: sa.Table) -> TableRef:
        preparer = ConfigContext.get().store.table_store.engine.dialect.identifier_preparer
        ref = super().__new__(cls, preparer.format_table(table))
        ref.table = table
        return ref


def _as_table_ref(value: Any) -> Any:
    if isinstance(value, sa.sql.expression.Alias):
        return TableRef(cast(sa.Table, value.original))  # pipedag aliases a stage table
    if isinstance(value, sa.Table):
        return TableRef(value)
    return value


def _unchanged(value: Any) -> Any:
    return value


def _decorate(
    *,
    input_type: type,
    version: Any,
    lazy: bool,
    primary_key: str | list[str] | None,
    name: str | None,
    prepare: Callable[[Any], Any] = _unchanged,
    build: Callable[[Any], Any] = _unchanged,
) -> Callable:
    def decorator(fn: Callable) -> Any:
        table_name = (name or fn.__name__).lower()
        keys = [primary_key] if isinstance(primary_key, str) else primary_key

        @functools.wraps(fn)
        def run(*args, **kwargs):
            result = fn(*(prepare(a) for a in args), **{k: prepare(v) for k, v in kwargs.items()})
            if isinstance(result, Table):
                return result
            declare_key(table_name, keys)
            return Table(build(result), table_name, primary_key=physical_key(keys))

        return materialize(run, name=fn.__name__, input_type=input_type, version=version, lazy=lazy)

    return decorator


def sql_transform(*, primary_key: str | list[str] | None = None, name: str | None = None) -> Callable:
    """The function receives input tables as ``TableRef`` and returns SELECT text in the store's SQL."""

    def build(result: Any) -> Any:
        if isinstance(result, str):
            return sa.text(result)
        if isinstance(result, (sa.sql.expression.Selectable, sa.TextClause)):
            return result
        raise TaskDefinitionError(f"an sql_transform must return SELECT text, got {type(result).__name__}")

    return _decorate(
        input_type=sa.Table,
        version=None,
        lazy=True,
        primary_key=primary_key,
        name=name,
        prepare=_as_table_ref,
        build=build,
    )


def polars_transform(*, primary_key: str | list[str] | None = None, name: str | None = None) -> Callable:
    """The function receives ``pl.LazyFrame`` inputs and returns a LazyFrame (or DataFrame)."""
    return _decorate(input_type=pl.LazyFrame, version=AUTO_VERSION, lazy=False, primary_key=primary_key, name=name)


def pandas_transform(*, version: str, primary_key: str | list[str] | None = None, name: str | None = None) -> Callable:
    """The function receives ``pd.DataFrame`` inputs; bump ``version`` when you change its logic."""
    return _decorate(input_type=pd.DataFrame, version=version, lazy=False, primary_key=primary_key, name=name)
