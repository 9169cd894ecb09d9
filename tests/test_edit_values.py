"""Edits of synced tables are refused when the column would change the value (round or cut it)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.connectors import WarehouseError
from stagehouse.flows import run_flow
from stagehouse.tasks import sync
from tests.conftest import sqlalchemy_url


@pytest.fixture
def pg_customers(pg_url):
    """A PostgreSQL source table with a numeric(12,2) and a varchar(5) column."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_cust_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {name} (id integer PRIMARY KEY, balance numeric(12,2), code varchar(5), note text)")
        )
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, 10.00, 'ab', 'x'), (2, 20.50, 'cd', 'y')"))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def test_an_edit_the_column_would_round_or_cut_is_refused_naming_row_field_type_and_fix(project, pg_customers):
    for mode in ("full", "merge"):
        with Flow("edits") as flow, Stage("raw"):
            sync("pg", pg_customers, name=f"cust_{mode}", mode=mode)
        report = run_flow(flow)
        assert report.ok, report.error
        table = f"raw.cust_{mode}"
        with project.warehouse() as wh:
            with pytest.raises(WarehouseError) as rounded:
                wh.update_cell(table, "balance", 2, 1.234)
            assert str(rounded.value) == (
                f"connection 'warehouse', table '{table}': row 2: 1.234 does not fit column 'balance' "
                f"({'DECIMAL(12,2)' if project.instance == 'local' else 'numeric(12,2)'}): "
                "it keeps 2 decimal places and would store 1.23; round the value first"
            )
            with pytest.raises(
                WarehouseError,
                match=r"row 2: Decimal\('1234567890123'\) does not fit column 'balance' .*: "
                r"it holds at most 10 digits before the point; give a smaller number$",
            ):
                wh.update_cell(table, "balance", 2, Decimal("1234567890123"))
            kind = "VARCHAR" if project.instance == "local" else "character varying(5)"
            limit = "the source declares varchar(5)" if project.instance == "local" else "it holds 5"
            with pytest.raises(WarehouseError) as cut:
                wh.update_cell(table, "code", 1, "abcdefg")
            assert str(cut.value) == (
                f"connection 'warehouse', table '{table}': row 1: 'abcdefg' does not fit column 'code' ({kind}): "
                f"7 characters, {limit}; shorten the value"
            )
            with pytest.raises(WarehouseError, match=r"row 3: 0.001 does not fit column 'balance'"):
                wh.insert_row(table, {"id": 3, "balance": 0.001, "code": "ok"})
            with pytest.raises(WarehouseError, match=r"row 3: 'toolong' does not fit column 'code'"):
                wh.insert_row(table, {"id": 3, "balance": 1, "code": "toolong"})
            assert wh.list_changes(table) == []

            wh.update_cell(table, "balance", 2, 1.2)
            wh.update_cell(table, "code", 1, "abcde")
            wh.update_cell(table, "note", 1, "a note far longer than five characters")
            wh.insert_row(table, {"id": 3, "balance": Decimal("9999999999.99"), "code": "xy"})
            rows = {r["id"]: (r["balance"], r["code"]) for r in wh.fetch("raw", f"cust_{mode}")}
            assert rows == {
                1: (Decimal("10.00"), "abcde"),
                2: (Decimal("1.20"), "cd"),
                3: (Decimal("9999999999.99"), "xy"),
            }
            assert [c["new_value"] for c in wh.list_changes(table)][:2] == ["1.2", '"abcde"']


def test_a_nan_edit_and_a_time_of_day_for_a_date_are_refused_and_writeback_never_sees_them(project, pg_url):
    """NaN is no JSON value: logged, it failed every later writeback and left the row's changes
    PROCESSING. A date-time for a date column was logged whole while reads showed the day alone,
    so the app would have got a time the grid never showed. Both are refused; the date and a
    finite number are logged."""
    import datetime as dt

    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_days_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id integer PRIMARY KEY, born date, score double precision)"))
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, '1990-01-01', 1.5)"))
    try:
        with Flow("edits") as flow, Stage("raw"):
            sync("pg", name, name="people")
        assert (report := run_flow(flow)).ok, report.error
        with project.warehouse() as wh:
            for value in (float("nan"), float("inf"), Decimal("NaN")):
                with pytest.raises(
                    WarehouseError, match=r"row 1: .* does not fit column 'score' .*: NaN and infinities"
                ):
                    wh.update_cell("raw.people", "score", 1, value)
            for value in ("1900-02-28T10:00:00", dt.datetime(1900, 2, 28, 10, 0)):
                with pytest.raises(WarehouseError) as timed:
                    wh.update_cell("raw.people", "born", 1, value)
                assert str(timed.value).endswith(
                    "a date keeps no time of day and would store 1900-02-28; give the date alone"
                ), timed.value
            assert wh.list_changes("raw.people") == []
            wh.update_cell("raw.people", "born", 1, "1900-02-28T00:00:00")
            wh.update_cell("raw.people", "score", 1, 2.5)
            [row] = wh.fetch("raw", "people")
            assert (row["born"], row["score"]) == (dt.date(1900, 2, 28), 2.5)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        engine.dispose()


def test_an_edit_by_a_key_that_names_several_rows_is_refused(project, pg_url):
    """A table keyed by (region, code) holds ('eu', '01') and ('us', '01'): the refusal names the
    composite key; following it with pk='code' no longer logs an edit that reads showed on both rows."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_pairs_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {name} (region text, code text, ref text, qty int, PRIMARY KEY (region, code))")
        )
        conn.execute(sa.text(f"INSERT INTO {name} VALUES ('eu', '01', 'e1', 1), ('us', '01', 'u1', 2)"))
    try:
        with Flow("edits") as flow, Stage("raw"):
            sync("pg", name, name="stock")
        assert (report := run_flow(flow)).ok, report.error
        with project.warehouse() as wh:
            with pytest.raises(WarehouseError, match=r"is keyed by several columns \(region, code\)"):
                wh.update_cell("raw.stock", "qty", ("eu", "01"), 99)
            with pytest.raises(WarehouseError) as several:
                wh.update_cell("raw.stock", "qty", "01", 77, pk="code")
            assert str(several.value) == (
                "connection 'warehouse', table 'raw.stock': code = '01' names more than one row, so an edit of it "
                "would change each of them; pass pk= a column whose values are unique (a table keyed by several "
                "columns cannot be edited yet)"
            )
            assert wh.list_changes("raw.stock") == []
            wh.update_cell("raw.stock", "qty", "e1", 77, pk="ref")
            assert {r["ref"]: r["qty"] for r in wh.fetch("raw", "stock")} == {"e1": 77, "u1": 2}
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        engine.dispose()
