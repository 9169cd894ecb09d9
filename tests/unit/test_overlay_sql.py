"""The overlay statement layers change-log edits on a table read: its SQL for both stores, and
what it returns on an in-memory DuckDB (no server)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from duckdb_engine import Dialect as DuckDBDialect
from sqlalchemy.dialects import postgresql

from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.sql.described import NativeType
from stagehouse.connectors.sql.overlay import overlay_select

DIALECTS = {"duckdb": DuckDBDialect(), "postgresql": postgresql.dialect()}


def customers() -> sa.Table:
    columns = {"id": "BIGINT", "name": "VARCHAR", "score": "DOUBLE PRECISION"}
    return sa.Table(
        "customers", sa.MetaData(), *(sa.Column(n, NativeType(k)) for n, k in columns.items()), schema="raw"
    )


def compiled(dialect: str) -> tuple[str, dict]:
    statement = overlay_select(dialect, customers(), "id", "raw.customers").compile(dialect=DIALECTS[dialect])
    return " ".join(str(statement).split()), statement.params


def joined(select: sa.Select) -> sa.Join:
    (join,) = select.get_final_froms()
    assert isinstance(join, sa.Join) and join.isouter
    return join


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_overlay_reads_the_table_once_with_one_join_to_its_folded_edits(dialect):
    base = customers()
    statement = overlay_select(dialect, base, "id", "raw.customers")
    kept, inserted = statement.selects
    assert [c.name for c in kept.selected_columns] == ["id", "name", "score"]
    assert [c.name for c in inserted.selected_columns] == ["id", "name", "score"]

    synced_rows = joined(kept)  # the table's rows, each probing the edits once
    assert synced_rows.left is base and synced_rows.right.name == "edited_rows"
    on = synced_rows.onclause
    assert {on.left.table.name, on.right.table.name} == {"customers", "edited_rows"}
    appended = joined(inserted)  # inserted rows the table does not hold yet
    assert appended.left.name == "edited_rows" and appended.right.name == "synced"

    sql, params = compiled(dialect)
    assert sql.count(" UNION ALL ") == 1
    assert "raw.customers" in params.values() and "'raw.customers'" not in sql  # this table's edits, bound not spliced
    assert "AS BIGINT) AS edited_key" in sql  # the edits' key cast to the table's key type, the table's key untouched
    for column, kind in (("name", "VARCHAR"), ("score", "DOUBLE PRECISION")):
        # an edited cell in the column's type; else an insert's value (the app made the key too), else the synced one
        assert f"AS {kind}) ELSE raw.customers.{column} END END AS {column}" in sql
        assert f"THEN CAST(edited_rows.v{1 if column == 'name' else 2} AS {kind}) ELSE CASE WHEN" in sql


@pytest.fixture
def store():
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA raw; CREATE SCHEMA stagehouse_meta"))
        conn.execute(sa.text("CREATE SEQUENCE stagehouse_meta.change_log_id"))
        CHANGE_LOG.create(conn)
        customers().create(conn)
        conn.execute(sa.text("INSERT INTO raw.customers VALUES (1, 'ada', 1.5), (2, 'bob', 2.5), (4, 'dee', 4.5)"))
    yield engine
    engine.dispose()


def edit(
    conn: sa.Connection, row: int, kind: str, field: str | None = None, value: object = None, retired: bool = False
) -> None:
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        CHANGE_LOG.insert().values(
            table_name="raw.customers",
            pk_field="id",
            row_pk=str(row),
            field=field,
            new_value=json.dumps(value),
            type=kind,
            changed_at=now,
            writeback_status="PENDING",
            attempts=0,
            retired_at=now if retired else None,
        )
    )


def test_edits_are_layered_on_the_rows_read(store):
    with store.begin() as conn:
        edit(conn, 1, "u", "name", "Ada")
        edit(conn, 1, "u", "name", "Ada NV")  # the latest update of a cell wins
        edit(conn, 1, "u", "score", 9)  # JSON text cast to the column's type
        edit(conn, 2, "d")  # a deleted row is gone
        edit(conn, 3, "i", value={"id": 3, "name": "cy", "score": 3.5})  # an inserted row is appended
        edit(conn, 3, "u", "name", "Cy")  # and takes later updates
        edit(conn, 4, "u", "name", "retired", retired=True)  # a retired edit is no longer layered
    with store.connect() as conn:
        rows = conn.execute(overlay_select("duckdb", customers(), "id", "raw.customers")).all()
    assert sorted(tuple(row) for row in rows) == [(1, "Ada NV", 9.0), (3, "Cy", 3.5), (4, "dee", 4.5)]
