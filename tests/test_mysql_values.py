"""MariaDB values land as the source holds them: tinyint(1) keeps its integers, a zero date is refused."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.tasks import sync
from tests.conftest import sqlalchemy_url


@pytest.fixture
def maria_table(mysql_url):
    """A MariaDB table with a tinyint(1) holding 2 and -1, and a zero date in row 2."""
    engine = sa.create_engine(sqlalchemy_url(mysql_url))
    name = f"sh_zero_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text("SET SESSION sql_mode = ''"))  # what an old app's server allowed
        conn.execute(sa.text(f"CREATE TABLE {name} (id int PRIMARY KEY, flag tinyint(1), born date, seen datetime)"))
        conn.execute(
            sa.text(
                f"INSERT INTO {name} VALUES (1, 1, '2024-01-02', '2024-01-02 03:04:05'), "
                "(2, 2, '0000-00-00', NULL), (3, -1, NULL, '0000-00-00 00:00:00'), (4, 0, NULL, NULL)"
            )
        )
    yield engine, name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def test_tinyint1_keeps_its_integers_and_a_zero_date_is_refused_naming_row_field_and_fix(project, maria_table):
    engine, name = maria_table
    with Flow("maria") as flow, Stage("raw"):
        sync("mysql", name, name="people")
    report = run_flow(flow)
    assert not report.ok
    assert str(report.error) == (
        f"connection 'mysql', table '{name}': row id 2, field 'born': '0000-00-00' is not a date (it would land as "
        "NULL); "
        "sync a query= that reads NULLIF(born, '0000-00-00') AS born (or fix the rows in the source; sql_mode "
        "NO_ZERO_DATE keeps new ones out)"
    )

    query = (
        f"SELECT id, flag, NULLIF(born, '0000-00-00') AS born, NULLIF(seen, '0000-00-00 00:00:00') AS seen FROM {name} "
        "WHERE CAST(id AS CHAR) LIKE '%'"
    )  # a '%' reaches MySQL as written
    with Flow("maria") as flow, Stage("raw"):
        sync("mysql", query=query, name="people", primary_key="id")
    report = run_flow(flow)
    assert report.ok, report.error
    rows = project.read("raw", "people", order_by="id")
    assert [(r["id"], r["flag"], r["born"], r["seen"]) for r in rows] == [
        (1, 1, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5)),
        (2, 2, None, None),
        (3, -1, None, None),
        (4, 0, None, None),
    ]
    assert all(type(r["flag"]) is int for r in rows)

    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {name} SET born = NULL WHERE id = 2"))
    with Flow("maria") as flow, Stage("raw"):
        sync("mysql", name, name="people", mode="merge")
    report = run_flow(flow)
    assert not report.ok
    assert str(report.error).startswith(
        f"connection 'mysql', table '{name}': row id 3, field 'seen': '0000-00-00 00:00:00' is not a date"
    )


def test_a_zero_date_in_an_incremental_delta_is_named_by_table_and_row(project, maria_table):
    """A delta is read through a query of the table: the refusal still names the table and the row's key."""
    engine, name = maria_table
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {name} SET born = NULL, seen = NULL WHERE id IN (2, 3)"))
    with Flow("maria") as flow, Stage("raw"):
        sync("mysql", name, name="people", mode="incremental", cursor="id")
    assert (report := run_flow(flow)).ok, report.error
    with engine.begin() as conn:
        conn.execute(sa.text("SET SESSION sql_mode = ''"))
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (5, 0, '2024-00-15', NULL)"))
    report = run_flow(flow)
    assert not report.ok
    assert str(report.error) == (
        f"connection 'mysql', table '{name}': row id 5, field 'born': '2024-00-15' is not a date (it would land as "
        "NULL); sync a query= that reads CASE WHEN MONTH(born) = 0 OR DAYOFMONTH(born) = 0 THEN NULL ELSE born END "
        "AS born (or fix the rows in the source; sql_mode NO_ZERO_IN_DATE keeps new ones out)"
    ), report.error
    assert [r["id"] for r in project.read("raw", "people", order_by="id")] == [1, 2, 3, 4]
    fixed = (
        "SELECT id, flag, CASE WHEN MONTH(born) = 0 OR DAYOFMONTH(born) = 0 THEN NULL ELSE born END AS born, seen "
        f"FROM {name}"
    )
    with Flow("maria") as flow, Stage("raw"):
        sync("mysql", query=fixed, name="people", primary_key="id")
    assert (report := run_flow(flow)).ok, report.error
    rows = project.read("raw", "people", order_by="id")
    assert [(r["id"], r["born"]) for r in rows] == [
        (1, dt.date(2024, 1, 2)),
        (2, None),
        (3, None),
        (4, None),
        (5, None),
    ]


def test_bigint_unsigned_lands_whole_on_either_store(project, mysql_url):
    """2**64 - 1 fits no signed 64-bit column: the PostgreSQL store takes it as numeric(20,0)."""
    engine = sa.create_engine(sqlalchemy_url(mysql_url))
    name = f"sh_unsigned_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id int PRIMARY KEY, big bigint unsigned, small int unsigned)"))
        conn.execute(
            sa.text(f"INSERT INTO {name} VALUES (1, 18446744073709551615, 4294967295), (2, 9223372036854775808, 0)")
        )
    try:
        with Flow("maria") as flow, Stage("raw"):
            sync("mysql", name, name="counters")
        report = run_flow(flow)
        assert report.ok, report.error
        rows = project.read("raw", "counters", order_by="id")
        assert [(r["id"], int(r["big"]), r["small"]) for r in rows] == [
            (1, 18446744073709551615, 4294967295),
            (2, 9223372036854775808, 0),
        ]

        with engine.begin() as conn:  # a merge's delta lands beside the committed numeric(20,0) column
            conn.execute(sa.text(f"UPDATE {name} SET big = 18446744073709551614 WHERE id = 2"))
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (3, 18446744073709551613, 7)"))
        with Flow("maria") as flow, Stage("raw"):
            sync("mysql", name, name="counters", mode="merge", cursor="big")
        report = run_flow(flow)
        assert report.ok, report.error
        rows = project.read("raw", "counters", order_by="id")
        assert [(r["id"], int(r["big"])) for r in rows] == [
            (1, 18446744073709551615),
            (2, 18446744073709551614),
            (3, 18446744073709551613),
        ]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        engine.dispose()


def test_a_decimal_wider_than_38_digits_is_refused_naming_the_column_and_its_fix_works(project, mysql_url):
    """DuckDB's MySQL scanner read decimal(39,4) as DOUBLE (12345678901234567.1234 landed as
    1.2345678901234568e16): the sync refuses it before reading, naming the column; the query it
    proposes loads the value exactly. decimal(38,4) and an unsigned decimal(38,2) are read as is."""
    from decimal import Decimal

    engine = sa.create_engine(sqlalchemy_url(mysql_url))
    name = f"sh_dec_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} (id int PRIMARY KEY, fits decimal(38,4), wide decimal(39,4), "
                "positive decimal(38,2) unsigned)"
            )
        )
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (1, 12345678901234567.1234, 12345678901234567.1234, 1.25)"))
    try:
        with Flow("maria") as flow, Stage("raw"):
            sync("mysql", name, name="amounts")
        report = run_flow(flow)
        assert not report.ok
        assert str(report.error) == (
            f"connection 'mysql', table '{name}': column 'wide' is decimal(39,4), more digits than the 38 a store "
            "reads exactly (it would arrive rounded through a double); sync a query= that reads CAST(wide AS "
            "DECIMAL(38,4)) AS wide if its values fit, or CAST(wide AS CHAR) AS wide to keep every digit as text"
        )
        fixed = f"SELECT id, fits, CAST(wide AS DECIMAL(38,4)) AS wide, positive FROM {name}"
        with Flow("maria") as flow, Stage("raw"):
            sync("mysql", query=fixed, name="amounts", primary_key="id")
        assert (report := run_flow(flow)).ok, report.error
        [row] = project.read("raw", "amounts")
        assert (Decimal(str(row["fits"])), Decimal(str(row["wide"])), Decimal(str(row["positive"]))) == (
            Decimal("12345678901234567.1234"),
            Decimal("12345678901234567.1234"),
            Decimal("1.25"),
        )
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        engine.dispose()
