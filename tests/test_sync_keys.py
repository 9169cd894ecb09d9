"""Primary keys of incremental and merge syncs: NULL keys are refused, repeated keys resolve
deterministically, and the messages a user sees name what to fix — on every store."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.tasks import sync
from stagehouse.tasks.errors import NullKeyError
from stagehouse.tasks.evolution import SchemaConflictError
from tests.conftest import sqlalchemy_url

T0 = dt.datetime(2024, 1, 1)


@pytest.fixture
def keyless(pg_url):
    """(engine, sa.Table) of a fresh PostgreSQL table with no primary key (its ``id`` may be NULL)."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    table = sa.Table(
        f"sh_nk_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("id", sa.Integer),
        sa.Column("status", sa.String(20)),
        sa.Column("amount", sa.Integer),
        sa.Column("updated", sa.DateTime),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [{"id": i, "status": "new", "amount": i, "updated": T0 + dt.timedelta(minutes=i)} for i in (1, 2, 3)],
        )
    yield engine, table
    table.drop(engine)
    engine.dispose()


def flow_of(name: str, mode: str, **kwargs) -> Flow:
    with Flow("keys") as flow:
        with Stage("raw"):
            sync("pg", name, primary_key="id", mode=mode, cursor="updated", **kwargs)
    return flow


@pytest.mark.parametrize("mode", ["merge", "incremental"])
def test_null_key_is_refused_and_the_fixed_source_loads_next(project, keyless, mode):
    """Two NULL-key rows arrive: the run fails naming connection, table, key and rows, the
    committed table stays; once the source gives them keys, the next run loads them once."""
    engine, table = keyless
    assert run_flow(flow_of(table.name, mode)).ok
    committed = project.read("raw", table.name, order_by="id")
    later = T0 + dt.timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": None, "status": "n", "amount": 0, "updated": later}] * 2)

    failing = run_flow(flow_of(table.name, mode))
    assert not failing.ok
    assert isinstance(failing.error, NullKeyError)
    assert str(failing.error) == (
        f"connection 'pg', table '{table.name}', store table '{table.name}': primary key id is NULL in 2 new rows; "
        "nothing was committed — give those rows a key in the source, or choose primary_key= columns that are never "
        "NULL"
    )
    assert (failing.error.rows, failing.error.key) == (2, ["id"])
    assert str(pickle.loads(pickle.dumps(failing.error))) == str(failing.error)  # crosses Dask workers whole
    assert project.read("raw", table.name, order_by="id") == committed

    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {table.name} SET id = 10 WHERE ctid = (SELECT min(ctid) FROM {table.name} WHERE id IS NULL)"
            )
        )
        conn.execute(table.update().where(table.c.id.is_(None)).values(id=11))
    fixed = run_flow(flow_of(table.name, mode))
    assert fixed.ok, fixed.error
    assert [r["id"] for r in project.read("raw", table.name, order_by="id")] == [1, 2, 3, 10, 11]

    if mode == "merge":  # the row changes again: replaced, not doubled
        with engine.begin() as conn:
            conn.execute(
                table.update().where(table.c.id == 10).values(status="paid", updated=later + dt.timedelta(days=1))
            )
        assert run_flow(flow_of(table.name, mode)).ok
        stored = project.read("raw", table.name, order_by="id")
        assert [(r["id"], r["status"]) for r in stored] == [(1, "new"), (2, "new"), (3, "new"), (10, "paid"), (11, "n")]


def test_merge_of_one_key_twice_at_one_cursor_keeps_the_greatest_row(project, keyless):
    """Same key, same cursor, different rows in one delta: the greatest by the other columns
    wins, whichever the source returned first."""
    engine, table = keyless
    assert run_flow(flow_of(table.name, "merge")).ok
    later = T0 + dt.timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": 2, "status": "a", "amount": 5, "updated": later},
                {"id": 2, "status": "b", "amount": 1, "updated": later},
                {"id": 3, "status": "b", "amount": 1, "updated": later},
                {"id": 3, "status": "a", "amount": 5, "updated": later},
                {"id": 3, "status": "b", "amount": 2, "updated": later},
            ],
        )
    report = run_flow(flow_of(table.name, "merge"))
    assert report.ok, report.error
    stored = {r["id"]: (r["status"], r["amount"]) for r in project.read("raw", table.name)}
    assert stored == {1: ("new", 1), 2: ("b", 1), 3: ("b", 2)}


def run_after_amount_retyped(keyless, new_amounts):
    """Load the table, retype its ``amount`` column to text in the source, add rows with
    ``new_amounts`` (ids 20, 21, …), and run the incremental sync again."""
    engine, table = keyless
    assert run_flow(flow_of(table.name, "incremental")).ok
    later = T0 + dt.timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {table.name} ALTER COLUMN amount TYPE VARCHAR(20)"))
        conn.execute(
            table.insert(),
            [{"id": 20 + i, "status": "n", "amount": a, "updated": later} for i, a in enumerate(new_amounts)],
        )
    return run_flow(flow_of(table.name, "incremental"))


def test_type_conflict_without_an_offending_value_says_why_it_was_refused(project, keyless):
    """The column's type changed to text, but no new value fails the cast."""
    failing = run_after_amount_retyped(keyless, ["7", "8"])
    assert isinstance(failing.error, SchemaConflictError)
    message = str(failing.error).lower()
    assert "none" not in message, message
    assert "every new value casts to integer (the first: '7')" in message, message
    assert "column 'amount'" in message and message.count("\n") == 0


def test_a_retyped_column_that_is_all_null_in_the_new_rows_keeps_the_committed_type(project, keyless):
    table = keyless[1]
    report = run_after_amount_retyped(keyless, [None, None])
    assert report.ok, report.error
    stored = {r["id"]: r["amount"] for r in project.read("raw", table.name)}
    assert (
        stored[20] is None
        and stored[21] is None
        and all(isinstance(v, int) for k, v in stored.items() if k < 20 and v is not None)
    )


def test_a_repeated_key_in_a_full_sync_names_the_source_and_the_fix(project, keyless):
    from stagehouse.tasks.errors import DuplicateKeyError

    engine, table = keyless
    with Flow("keys") as flow, Stage("raw"):
        sync("pg", table.name, primary_key="id")
    assert run_flow(flow).ok
    committed = project.read("raw", table.name, order_by="id")
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "status": "again", "amount": 0, "updated": T0}])

    failing = run_flow(flow)
    assert isinstance(failing.error, DuplicateKeyError), failing.error
    assert str(failing.error) == (
        f"connection 'pg', table '{table.name}', store table '{table.name}': primary key id is not unique: "
        "{'id': 1} occurs 2 times; nothing was committed — remove the repeated rows in the source, or choose "
        "primary_key= columns that identify a row"
    )
    assert str(pickle.loads(pickle.dumps(failing.error))) == str(failing.error)
    assert project.read("raw", table.name, order_by="id") == committed
