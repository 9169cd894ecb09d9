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
        conn.execute(sa.text(f"CREATE TABLE {name} (id integer PRIMARY KEY, email varchar(40), note varchar(20), updated_at timestamp NULL)"))
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
        conn.execute(sa.text(f"UPDATE {name} SET note = CASE WHEN note IS NULL THEN '' ELSE NULL END WHERE id IN (1, 2)"))
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
