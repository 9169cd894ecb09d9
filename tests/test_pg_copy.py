"""A full sync from PostgreSQL into the PostgreSQL store: the source's binary COPY taken as is.

The store's columns keep the source's exact types, a type the source defines itself falls back
to the Arrow path, a source failing mid-stream commits nothing, and a run killed mid-copy leaves
the last committed table for the next run to replace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.connectors import SourceError
from stagehouse.flows import run_flow
from stagehouse.tasks import sync
from tests.conftest import sqlalchemy_url
from tests.kill_clock import KillClock
from tests.test_cli import STAGEHOUSE
from tests.test_sql_sources import store_types

pytestmark = pytest.mark.parametrize("instance", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

TYPED_COLUMNS = {
    "id": "integer",
    "price": "numeric(15,2)",
    "code": "character varying(40)",
    "initials": "character(3)",
    "at": "timestamp with time zone",
    "local_at": "timestamp(3) without time zone",
    "day": "date",
    "took": "interval",
    "doc": "jsonb",
    "ref": "uuid",
    "tags": "text[]",
    "scores": "integer[]",
    "address": "inet",
    "raw": "bytea",
    "ratio": "real",
    "big": "bigint",
    "flag": "boolean",
}
TYPED_ROWS = """
    (1, 4192.40, 'ab', 'ADA', '2024-03-01 12:00:00+02', '2024-03-01 12:00:00.123', '2024-03-01', '1 day 02:00',
     '{"a": [1, 2], "b": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{x,"y z",NULL}', '{1,NULL,3}', '10.0.0.1/8',
     '\\x00ff', 0.5, 9007199254740993, true),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""


@pytest.fixture
def pg_source(pg_url):
    """An engine on the source database and a helper that creates throw-away tables in it."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    created: list[str] = []

    def create(ddl: str, rows: str | None = None, prefix: str = "sh_copy") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(sa.text(ddl.format(name=name)))
            if rows:
                conn.execute(sa.text(f"INSERT INTO {name} VALUES {rows}"))
        created.append(name)
        return name

    yield engine, create
    with engine.begin() as conn:
        for name in reversed(created):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name} CASCADE"))
            conn.execute(sa.text(f"DROP TYPE IF EXISTS {name}_mood CASCADE"))
    engine.dispose()


def one_sync_flow(*args, **kwargs) -> Flow:
    with Flow("pg_copy") as flow:
        with Stage("raw"):
            sync(*args, **kwargs)
    return flow


def rows_as_text(engine: sa.Engine, relation: str) -> list[tuple]:
    """Every row with every value as PostgreSQL prints it: equal text means equal values and types."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(f"SELECT t::text FROM {relation} AS t ORDER BY 1")).all()]


def test_every_builtin_type_arrives_exactly_as_declared(project, pg_source):
    engine, create = pg_source
    columns = ", ".join(f"{name} {kind}" for name, kind in TYPED_COLUMNS.items())
    table = create(f"CREATE TABLE {{name}} ({columns}, PRIMARY KEY (id))", TYPED_ROWS)

    report = run_flow(one_sync_flow("pg", table))

    assert report.ok, report.error
    assert report.tasks[0].rows == 2
    assert store_types(project, "raw", table) == TYPED_COLUMNS
    store = project.store_engine()
    try:
        assert rows_as_text(store, f'raw."{table}"') == rows_as_text(engine, table)
        assert sa.inspect(store).get_pk_constraint(table, schema="raw")["constrained_columns"] == ["id"]
    finally:
        store.dispose()


def test_a_query_keeps_the_types_of_its_expressions(project, pg_source):
    engine, create = pg_source
    table = create("CREATE TABLE {name} (id int PRIMARY KEY, price numeric(15,2))", "(1, 2.50), (2, 3.10)")
    query = f"SELECT id, price * 2 AS doubled, price::numeric(6,1) AS rounded, now()::date - id AS day FROM {table};"

    report = run_flow(one_sync_flow("pg", query=query, name="doubled", primary_key="id"))

    assert report.ok, report.error
    assert store_types(project, "raw", "doubled") == {
        "id": "integer",
        "doubled": "numeric",
        "rounded": "numeric(6,1)",
        "day": "date",
    }
    assert [(row["id"], str(row["rounded"])) for row in project.read("raw", "doubled", order_by="id")] == [
        (1, "2.5"),
        (2, "3.1"),
    ]


def test_a_type_the_source_defines_itself_takes_the_arrow_path(project, pg_source):
    engine, create = pg_source
    name = f"sh_copy_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TYPE {name}_mood AS ENUM ('sad', 'happy')"))
    table = create(
        f"CREATE TABLE {{name}} (id int PRIMARY KEY, mood {name}_mood)", "(1, 'happy'), (2, NULL)", prefix=name
    )

    report = run_flow(one_sync_flow("pg", table, name="moods"))

    assert report.ok, report.error
    assert [(row["id"], row["mood"]) for row in project.read("raw", "moods", order_by="id")] == [
        (1, "happy"),
        (2, None),
    ]


def test_a_source_failing_mid_copy_commits_nothing(project, pg_source):
    engine, create = pg_source
    table = create("CREATE TABLE {name} (id int PRIMARY KEY, divisor int)")
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} SELECT g, 1 FROM generate_series(1, 200000) g"))
    query = f"SELECT id, 100 / divisor AS share FROM {table}"
    assert (first := run_flow(one_sync_flow("pg", query=query, name="shares", primary_key="id"))).ok, first.error

    with engine.begin() as conn:  # row 150,000 fails after the rows before it went out
        conn.execute(sa.text(f"UPDATE {table} SET divisor = 0 WHERE id = 150000"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (200001, 1)"))
    report = run_flow(one_sync_flow("pg", query=query, name="shares", primary_key="id"))

    assert not report.ok
    assert isinstance(report.error, SourceError)
    assert "connection 'pg'" in str(report.error) and "division by zero" in str(report.error)
    store = project.store_engine()
    try:
        with store.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*), max(id) FROM raw.shares")).one() == (200000, 200000)
    finally:
        store.dispose()


def test_a_full_copy_killed_at_any_point_leaves_the_last_table_and_the_next_run_replaces_it(project, pg_source):
    engine, create = pg_source
    table = create("CREATE TABLE {name} (id bigint PRIMARY KEY, payload text)")
    env = {**os.environ, "SH_KILL_TABLE": table, "SH_KILL_MODE": "full"}

    def grow(rows: int) -> None:
        with engine.begin() as conn:
            start = conn.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar_one()
            conn.execute(
                sa.text(f"INSERT INTO {table} SELECT g, repeat('x', 80) FROM generate_series(:a, :b) g"),
                {"a": start + 1, "b": start + rows},
            )

    def summary(bind: sa.Engine, relation: str) -> tuple:
        with bind.connect() as conn:
            return tuple(conn.execute(sa.text(f"SELECT count(*), count(DISTINCT id), max(id) FROM {relation}")).one())

    def committed() -> tuple:
        store = project.store_engine()
        try:
            return summary(store, "raw.events")
        finally:
            store.dispose()

    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} SELECT g, repeat('x', 80) FROM generate_series(1, 300000) g"))
    started = time.perf_counter()
    subprocess.run(
        [STAGEHOUSE, "run", "kill_sync"], cwd=project.root, env=env, check=True, capture_output=True, timeout=120
    )
    duration = time.perf_counter() - started
    clock = KillClock(duration)
    for point in (0.5, 0.75, 0.95):
        before = committed()
        grow(1000)
        source_now = summary(engine, table)
        process = clock.run_killed([STAGEHOUSE, "run", "kill_sync"], point=point, cwd=project.root, env=env)
        assert process.returncode in (0, -signal.SIGKILL)
        after = committed()
        assert after in (before, source_now), (
            f"after a kill at {point:.0%}: {after}, before {before}, source {source_now}"
        )

    final = subprocess.run(
        [STAGEHOUSE, "run", "kill_sync"], cwd=project.root, env=env, capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    assert committed() == summary(engine, table)
    assert clock.hits >= 2, f"only {clock.hits} of 3 kills hit a running copy ({clock.duration:.1f} s runs)"
