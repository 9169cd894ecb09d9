"""When a sync reruns: a full sync on any changed row, an incremental one on a row at its mark.

Real PostgreSQL and MariaDB sources (and a SQLite file) into every store; each test changes the
source as a user's app would and checks what the store holds after the next run.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid

import pytest
import sqlalchemy as sa
import yaml
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.tasks import sql_transform, sync
from tests.conftest import sqlalchemy_url

T0 = dt.datetime(2024, 1, 1)


@pytest.fixture(params=["pg", "mysql"])
def customers(request):
    """(connection, table name, engine) of a fresh ``customers`` table with ids 1..6."""
    url = request.getfixturevalue("pg_url" if request.param == "pg" else "mysql_url")
    engine = sa.create_engine(sqlalchemy_url(url))
    name = f"sh_cu_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} (id integer PRIMARY KEY, email varchar(40), note varchar(20), updated_at "
                "timestamp NULL)"
            )
        )
        conn.execute(
            sa.text(f"INSERT INTO {name} VALUES (:id, :email, :note, :updated_at)"),
            [{"id": i, "email": f"c{i}@old.com", "note": None if i % 2 else "", "updated_at": T0} for i in range(1, 7)],
        )
    yield request.param, name, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


@sql_transform()
def emails(customers):
    return f"SELECT id, email FROM {customers}"


def full_flow(connection: str, table: str, **kwargs) -> Flow:
    with Flow("fresh") as flow:
        with Stage("raw"):
            synced = sync(connection, table, name="cust_full", **kwargs)
        with Stage("mart"):
            emails(synced)
    return flow


def states(report) -> dict[str, str]:
    return {t.task: t.state for t in report.tasks}


def test_full_sync_reloads_on_any_changed_row_and_stays_cached_on_none(project, customers):
    connection, name, engine = customers
    flow = lambda: full_flow(connection, name)  # noqa: E731
    assert run_flow(flow()).ok
    assert set(states(run_flow(flow())).values()) == {"CACHE_VALID"}

    with engine.begin() as conn:  # same count, same max id, same cursor
        conn.execute(sa.text(f"UPDATE {name} SET email = 'eve@new.com' WHERE id = 5"))
    updated = run_flow(flow())
    assert updated.ok, updated.error
    assert states(updated) == {"sync_cust_full": "COMPLETED", "emails": "COMPLETED"}
    assert project.read("mart", "emails", order_by="id")[4] == {"id": 5, "email": "eve@new.com"}

    with engine.begin() as conn:  # a NULL and an empty text swap places: still a change
        conn.execute(
            sa.text(f"UPDATE {name} SET note = CASE WHEN note IS NULL THEN '' ELSE NULL END WHERE id IN (1, 2)")
        )
    assert states(run_flow(flow()))["sync_cust_full"] == "COMPLETED"
    assert [r["note"] for r in project.read("raw", "cust_full", order_by="id")][:2] == ["", None]

    with engine.begin() as conn:  # delete one, insert one below the max: same count, same max id
        conn.execute(sa.text(f"DELETE FROM {name} WHERE id = 3"))
        conn.execute(sa.text(f"INSERT INTO {name} (id, email) VALUES (0, 'zero@new.com')"))
    replaced = run_flow(flow())
    assert states(replaced) == {"sync_cust_full": "COMPLETED", "emails": "COMPLETED"}
    assert [r["id"] for r in project.read("raw", "cust_full", order_by="id")] == [0, 1, 2, 4, 5, 6]
    assert [r["id"] for r in project.read("mart", "emails", order_by="id")] == [0, 1, 2, 4, 5, 6]

    assert set(states(run_flow(flow())).values()) == {"CACHE_VALID"}


def test_full_sync_of_a_query_reloads_when_its_result_changes(project, customers):
    connection, name, engine = customers
    flow = lambda: full_flow(connection, None, query=f"SELECT id, email FROM {name} WHERE id > 2")  # noqa: E731
    assert run_flow(flow()).ok
    with engine.begin() as conn:  # outside the query's rows: its result is the same
        conn.execute(sa.text(f"UPDATE {name} SET email = 'one@new.com' WHERE id = 1"))
    assert set(states(run_flow(flow())).values()) == {"CACHE_VALID"}

    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {name} SET email = 'four@new.com' WHERE id = 4"))
    assert states(run_flow(flow())) == {"sync_cust_full": "COMPLETED", "emails": "COMPLETED"}
    assert project.read("mart", "emails", order_by="id")[1] == {"id": 4, "email": "four@new.com"}


def test_full_sync_of_a_sqlite_table_always_reloads(project):
    """SQLite has no hash function to fingerprint a table in place: every run reloads it."""
    db = project.root / "s.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "a@old.com"), (2, "b@old.com")])
    con.commit()
    document = yaml.safe_load(project.config_file.read_text())
    document["instances"]["__any__"]["attrs"]["connections"]["lite"] = {"type": "sql", "url": f"sqlite:///{db}"}
    project.config_file.write_text(yaml.safe_dump(document))

    assert run_flow(full_flow("lite", "customers")).ok
    con.execute("UPDATE customers SET email = 'b@new.com' WHERE id = 2")
    con.commit()
    con.close()
    rerun = run_flow(full_flow("lite", "customers"))
    assert states(rerun) == {"sync_cust_full": "COMPLETED", "emails": "COMPLETED"}
    assert project.read("mart", "emails", order_by="id")[1] == {"id": 2, "email": "b@new.com"}
    assert states(run_flow(full_flow("lite", "customers")))["sync_cust_full"] == "COMPLETED"


@pytest.fixture(params=["pg", "mysql"])
def events(request):
    """(connection, engine, table maker): makes fresh ``events`` tables, with a key or without."""
    url = request.getfixturevalue("pg_url" if request.param == "pg" else "mysql_url")
    engine = sa.create_engine(sqlalchemy_url(url))
    made = []

    def make(keyed: bool) -> str:
        name = f"sh_ev_{uuid.uuid4().hex[:8]}"
        key = " PRIMARY KEY" if keyed else ""
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {name} (id integer{key}, ts timestamp NULL, amount integer)"))
        made.append(name)
        insert(engine, name, *((i, T0 + dt.timedelta(minutes=i), i * 10) for i in range(1, 6)))
        return name

    yield request.param, engine, make
    with engine.begin() as conn:
        for name in made:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def insert(engine: sa.Engine, name: str, *rows: tuple) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {name} VALUES (:id, :ts, :amount)"),
            [dict(zip(("id", "ts", "amount"), r, strict=True)) for r in rows],
        )


def cursor_flow(connection: str, table: str, mode: str, version: str | None = None) -> Flow:
    with Flow("ties") as flow:
        with Stage("raw"):
            sync(connection, table, name="events", mode=mode, cursor="ts", version=version)
    return flow


@pytest.mark.parametrize("mode", ["incremental", "merge"])
def test_row_arriving_at_the_high_water_mark_is_loaded_once(project, events, mode):
    """A row whose cursor equals the committed mark (a timestamp tie) arrives on the next run,
    once: the read starts at the mark and the rows already loaded there are dropped by key."""
    connection, engine, make = events
    name = make(keyed=True)
    ids = lambda: [r["id"] for r in project.read("raw", "events", order_by="id")]  # noqa: E731
    assert run_flow(cursor_flow(connection, name, mode)).ok

    insert(engine, name, (10, T0 + dt.timedelta(minutes=5), 100))  # the mark's timestamp
    tied = run_flow(cursor_flow(connection, name, mode))
    assert tied.ok, tied.error
    assert tied.tasks[0].state == "COMPLETED"  # the freshness check sees a new row at the maximum
    assert ids() == [1, 2, 3, 4, 5, 10]
    assert run_flow(cursor_flow(connection, name, mode)).tasks[0].state == "CACHE_VALID"

    forced = run_flow(cursor_flow(connection, name, mode, version="2"))  # re-reads the mark, adds nothing
    assert forced.ok, forced.error
    assert ids() == [1, 2, 3, 4, 5, 10]
    insert(engine, name, (11, T0 + dt.timedelta(minutes=9), 110))
    assert run_flow(cursor_flow(connection, name, mode)).ok
    assert ids() == [1, 2, 3, 4, 5, 10, 11]


def test_keyless_append_drops_the_rows_it_holds_at_the_mark_as_often_as_it_holds_them(project, events):
    """Without a key the rows at the mark are matched whole: a second identical event at the
    mark is a new row and is kept; the one loaded before is not appended again."""
    connection, engine, make = events
    name = make(keyed=False)
    assert run_flow(cursor_flow(connection, name, "incremental")).ok

    at_mark = T0 + dt.timedelta(minutes=5)
    insert(engine, name, (5, at_mark, 50), (6, at_mark, None))
    assert run_flow(cursor_flow(connection, name, "incremental")).tasks[0].state == "COMPLETED"
    assert run_flow(cursor_flow(connection, name, "incremental", version="2")).ok  # forced: nothing new
    rows = [(r["id"], r["amount"]) for r in project.read("raw", "events", order_by="id, amount")]
    assert rows == [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (5, 50), (6, None)]


def test_duckdb_file_fingerprint_changes_with_any_row_and_only_then(tmp_path):
    import duckdb

    from stagehouse.connectors import connect

    path = tmp_path / "src.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE deals AS SELECT range AS id, NULL::varchar AS a, ''::varchar AS b FROM range(100)")
    con.close()
    source = connect("duck", specs={"duck": {"type": "sql", "url": f"duckdb:///{path}"}})
    first = source.fingerprint("deals")
    assert source.fingerprint("deals") == first and first["rows"] == 100
    source.close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE deals SET a = '', b = NULL WHERE id = 7")  # NULL and '' swap: same count, same ids
    con.close()
    source = connect("duck", specs={"duck": {"type": "sql", "url": f"duckdb:///{path}"}})
    changed = source.fingerprint("deals")
    source.close()
    assert changed["rows"] == 100 and changed["content"] != first["content"]
