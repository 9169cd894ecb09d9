"""Time-zone-aware timestamps read by pandas and polars transforms, on every table store; and the
one-line error of a failed read."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import polars as pl
import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage
from pydiverse.pipedag.backend.table.sql.dialects import duckdb as duckdb_hooks

from stagehouse.flows import run_flow
from stagehouse.flows.runner import root_error
from stagehouse.tasks import pandas_transform, polars_transform, sync
from stagehouse.tasks.stores.duckdb import DuckDBPandasHook
from stagehouse.tasks.zoned_reads import ZonedPandasRead
from tests.conftest import sqlalchemy_url

UTC = dt.timezone.utc


@pytest.fixture
def events(pg_url, monkeypatch):
    """A PostgreSQL table with a ``timestamptz`` and a naive ``timestamp`` column; its name."""
    monkeypatch.setenv("PGTZ", "Asia/Kolkata")  # sessions in +05:30: what a reader gets must not depend on it
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_tz_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id int PRIMARY KEY, at timestamptz, wall timestamp)"))
        conn.execute(
            sa.text(
                f"INSERT INTO {name} VALUES (1, '2024-03-01 12:00:00+01', '2024-03-01 12:00:00'),"
                f" (2, '2024-07-01 23:30:00-04', '2024-07-01 23:30:00'), (3, NULL, NULL)"
            )
        )
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


AT = [dt.datetime(2024, 3, 1, 11, tzinfo=UTC), dt.datetime(2024, 7, 2, 3, 30, tzinfo=UTC), None]
WALL = [dt.datetime(2024, 3, 1, 12), dt.datetime(2024, 7, 1, 23, 30), None]


def reading_flow(table: str, seen: dict) -> Flow:
    @pandas_transform(version="1")
    def pandas_read(events: pd.DataFrame) -> pd.DataFrame:
        seen["pandas"] = events.sort_values("id")
        return events

    @polars_transform()
    def polars_read(events: pl.LazyFrame) -> pl.LazyFrame:
        frame = events.collect()
        if len(frame):  # polars transforms are also called on an empty frame (AUTO_VERSION)
            seen["polars"] = frame.sort("id")
        return events

    with Flow("zoned") as flow:
        with Stage("raw"):
            synced = sync("pg", f"public.{table}")
        with Stage("mart"):
            pandas_read(synced)
            polars_read(synced)
    return flow


def test_timestamptz_reaches_pandas_and_polars_as_utc(project, events):
    seen: dict = {}
    report = run_flow(reading_flow(events, seen))
    assert report.ok, report.error

    frame = seen["pandas"]
    assert isinstance(frame["at"].dtype, pd.DatetimeTZDtype) and str(frame["at"].dt.tz) == "UTC"
    assert [None if pd.isna(v) else v.to_pydatetime() for v in frame["at"]] == AT
    assert frame["wall"].dtype.kind == "M" and frame["wall"].dt.tz is None
    assert [None if pd.isna(v) else v.to_pydatetime() for v in frame["wall"]] == WALL

    frame = seen["polars"]
    assert frame.schema["at"] == pl.Datetime("us", "UTC")
    assert frame["at"].to_list() == AT
    assert frame.schema["wall"] == pl.Datetime("us")
    assert frame["wall"].to_list() == WALL


def test_failed_read_names_the_real_cause(project, events, monkeypatch):
    """With pipedag's naive cast back (the bug this fixed), the run's error is pandas' own
    message, not pipedag's wrapper "Failed to retrieve table"."""
    monkeypatch.setattr(
        ZonedPandasRead, "_adjust_cols_retrieve", classmethod(lambda cls, store, cols, dtypes: (None, dtypes))
    )
    monkeypatch.setattr(DuckDBPandasHook, "download_table", duckdb_hooks.PandasTableHook.__dict__["download_table"])
    report = run_flow(reading_flow(events, {}))

    assert not report.ok
    assert {t.task: t.state for t in report.tasks}["pandas_read"] == "FAILED"
    assert isinstance(report.error, TypeError)
    line = str(report.error).splitlines()[0]
    assert "timezone-aware dtype to timezone-naive dtype" in line
    assert "Failed to retrieve" not in line
    assert "Failed to retrieve table" in str(report.result.exception)  # the wrapper stays in the traceback


def test_root_error_follows_explicit_causes_only():
    def chained(outer: BaseException, cause: BaseException | None = None, context: BaseException | None = None):
        outer.__cause__, outer.__context__ = cause, context
        return outer

    cause = TypeError("the real problem")
    assert (
        root_error(chained(RuntimeError("Failed to retrieve table"), chained(RuntimeError("wrapped"), cause))) is cause
    )
    wrapper = chained(RuntimeError("Failed to retrieve table"), TypeError())  # a cause without a message says less
    assert root_error(wrapper) is wrapper
    handled = chained(RuntimeError("fallback failed"), context=ValueError("first try"))  # handled on the way
    assert root_error(handled) is handled
