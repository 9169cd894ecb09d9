"""Replication between the DuckDB store and a real PostgreSQL, both ways, with a reader of the
target querying all through the copy: it must see the old or the new table, never a partial one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from stagehouse.connectors import SourceError, WarehouseError
from stagehouse.connectors.registry import connect
from stagehouse.connectors.sql.replicate import replicate
from stagehouse.flows import load_flow, run_flow

ROWS = 200_000
STAGEHOUSE = str(Path(sys.executable).with_name("stagehouse"))


def sql_connections(tmp_path: Path, pg_url: str):
    specs = {"pg": {"type": "sql", "url": pg_url}, "duck": {"type": "sql", "url": f"duckdb:///{tmp_path}/copy.duckdb"}}
    return connect("pg", specs=specs), connect("duck", specs=specs)


@pytest.fixture
def schema(pg_url):
    name = f"repl_{uuid.uuid4().hex[:8]}"
    yield name
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for suffix in ("", "_published", "_target"):
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}{suffix}" CASCADE'))
    engine.dispose()


def fill(conn, schema: str, first: int, last: int, version: int) -> None:
    """Rows ``first..last`` of ``schema.items`` at ``version`` (their updated_at moves with it)."""
    series = (
        f"generate_series({first}, {last}) AS s(i)"
        if conn.backend == "postgresql"
        else f"range({first}, {last + 1}) AS s(i)"
    )
    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{schema}".items (id BIGINT PRIMARY KEY, version INTEGER, label TEXT, updated_at '
        "TIMESTAMPTZ)"
    )
    conn.execute(f'DELETE FROM "{schema}".items WHERE id BETWEEN {first} AND {last}')
    conn.execute(
        f"INSERT INTO \"{schema}\".items SELECT i, {version}, 'row ' || i, "
        f"TIMESTAMPTZ '2026-01-01 00:00:00+00' + {version} * INTERVAL '10 days' + i * INTERVAL '1 second' FROM {series}"
    )


class TargetReader(threading.Thread):
    """Asks the target ``count(*), min(version), max(version)`` in a loop and keeps every answer."""

    def __init__(self, engine: sa.Engine, table: str) -> None:
        super().__init__(daemon=True)
        self.engine, self.table = engine, table
        self.seen: list[tuple] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                row = conn.execute(sa.text(f"SELECT count(*), min(version), max(version) FROM {self.table}")).one()
                conn.commit()
                self.seen.append(tuple(row))

    def during(self, action):
        self.start()
        try:
            return action()
        finally:
            self.stop.set()
            self.join()


DIRECTIONS = [pytest.param("duck", "pg", id="duckdb_to_postgres"), pytest.param("pg", "duck", id="postgres_to_duckdb")]


@pytest.mark.parametrize(("source_name", "target_name"), DIRECTIONS)
def test_full_copy_replaces_the_table_and_readers_never_see_a_partial_one(
    tmp_path, pg_url, schema, source_name, target_name
):
    pg, duck = sql_connections(tmp_path, pg_url)
    source, target = {"pg": pg, "duck": duck}[source_name], {"pg": pg, "duck": duck}[target_name]
    fill(source, schema, 1, ROWS // 2, version=1)
    first = replicate(source, target, f"{schema}_target", table=f"{schema}.items", pk="id")
    assert (first.mode, first.rows) == ("full", ROWS // 2)

    fill(source, schema, 1, ROWS, version=2)
    reader = TargetReader(target.engine, f'"{schema}_target".items')
    second = reader.during(lambda: replicate(source, target, f"{schema}_target", table=f"{schema}.items", pk="id"))

    assert (second.mode, second.rows) == ("full", ROWS)
    assert len(reader.seen) >= 3, "the reader must have queried during the copy"
    assert set(reader.seen) <= {(ROWS // 2, 1, 1), (ROWS, 2, 2)}, f"a reader saw a partial table: {set(reader.seen)}"
    assert target.execute(f'SELECT count(*) AS n, min(version) AS v FROM "{schema}_target".items') == [
        {"n": ROWS, "v": 2}
    ]
    assert target.primary_key(f"{schema}_target.items") == ["id"]
    leftovers = target.execute(
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}_target'"
    )
    assert [r["table_name"] for r in leftovers] == ["items"], "side tables must be dropped"


@pytest.mark.parametrize(("source_name", "target_name"), DIRECTIONS)
def test_incremental_copy_merges_only_newer_rows_atomically(tmp_path, pg_url, schema, source_name, target_name):
    pg, duck = sql_connections(tmp_path, pg_url)
    source, target = {"pg": pg, "duck": duck}[source_name], {"pg": pg, "duck": duck}[target_name]
    fill(source, schema, 1, ROWS // 2, version=1)
    first = replicate(
        source, target, f"{schema}_target", table=f"{schema}.items", incremental_field="updated_at", pk="id"
    )
    assert (first.mode, first.rows, first.since) == ("full", ROWS // 2, None)

    fill(source, schema, 1, ROWS, version=2)  # every old row changed, as many new
    reader = TargetReader(target.engine, f'"{schema}_target".items')
    second = reader.during(
        lambda: replicate(
            source, target, f"{schema}_target", table=f"{schema}.items", incremental_field="updated_at", pk="id"
        )
    )

    assert second.mode == "incremental" and second.since is not None
    assert (second.inserted, second.updated) == (ROWS // 2, ROWS // 2)
    assert set(reader.seen) <= {(ROWS // 2, 1, 1), (ROWS, 2, 2)}, (
        f"a reader saw a half-merged table: {set(reader.seen)}"
    )
    copied = target.fetch(
        query=f'SELECT id, version, label, updated_at FROM "{schema}_target".items ORDER BY id', polars=True
    )
    original = source.fetch(
        query=f'SELECT id, version, label, updated_at FROM "{schema}".items ORDER BY id', polars=True
    )
    in_utc = pl.col("updated_at").dt.convert_time_zone("UTC")  # PostgreSQL says 'UTC', DuckDB 'Etc/UTC'
    assert copied.with_columns(in_utc).equals(original.with_columns(in_utc))

    third = replicate(
        source, target, f"{schema}_target", table=f"{schema}.items", incremental_field="updated_at", pk="id"
    )
    assert (third.rows, third.inserted, third.updated) == (1, 0, 0), "only the row at the high-water mark is read again"


def test_incremental_append_without_key_and_a_query_source(tmp_path, pg_url, schema):
    pg, duck = sql_connections(tmp_path, pg_url)
    fill(pg, schema, 1, 1000, version=1)
    replicate(
        pg,
        duck,
        "copies",
        "evens",
        query=f'SELECT id, version FROM "{schema}".items WHERE id % 2 = 0',
        incremental_field="id",
    )
    fill(pg, schema, 1001, 1100, version=1)
    report = replicate(
        pg,
        duck,
        "copies",
        "evens",
        query=f'SELECT id, version FROM "{schema}".items WHERE id % 2 = 0',
        incremental_field="id",
    )
    assert (report.mode, report.rows, report.since) == ("incremental", 50, 1000)
    assert duck.execute("SELECT count(*) AS n, count(DISTINCT id) AS ids FROM copies.evens") == [{"n": 550, "ids": 550}]


def test_bad_copies_are_refused_and_leave_the_target_intact(tmp_path, pg_url, schema):
    pg, duck = sql_connections(tmp_path, pg_url)
    fill(pg, schema, 1, 100, version=1)
    replicate(pg, duck, "copies", table=f"{schema}.items", pk="id")

    with pytest.raises(WarehouseError, match=r"connection 'duck', table 'copies.items'.*repeat or lack the key label"):
        replicate(
            pg,
            duck,
            "copies",
            "items",
            query=f"SELECT id, 2 AS version, 'same' AS label FROM \"{schema}\".items",
            pk="label",
        )
    with pytest.raises(WarehouseError, match=r"table 'copies.items'.*no column 'changed_at'"):
        replicate(pg, duck, "copies", table=f"{schema}.items", incremental_field="changed_at", pk="id")
    with pytest.raises(SourceError, match=r"connection 'pg', table 'public.no_such_table'"):
        replicate(pg, duck, "copies", table="public.no_such_table")
    assert duck.execute("SELECT count(*) AS n, max(version) AS v FROM copies.items") == [{"n": 100, "v": 1}]


def test_views_on_the_target_keep_working_after_a_full_copy(tmp_path, pg_url, schema):
    pg, duck = sql_connections(tmp_path, pg_url)
    fill(duck, "src", 1, 100, version=1)
    replicate(duck, pg, f"{schema}_target", table="src.items")
    pg.execute(f'CREATE VIEW "{schema}_target".recent AS SELECT id FROM "{schema}_target".items WHERE version = 2')
    fill(duck, "src", 1, 150, version=2)
    report = replicate(duck, pg, f"{schema}_target", table="src.items")
    assert report.rows == 150
    assert pg.execute(f'SELECT count(*) AS n FROM "{schema}_target".recent') == [{"n": 150}]


def test_replicate_tasks_in_a_flow_copy_again_only_what_changed(project, pg_url, schema, monkeypatch):
    monkeypatch.setenv("REPLICATE_TEST_SCHEMA", schema)
    pg = connect("pg")
    fill(pg, schema, 1, 1000, version=1)

    first = run_flow(load_flow("replicate_publish"), instance=project.instance)
    assert first.ok, first.error
    assert pg.execute(f'SELECT count(*) AS n FROM "{schema}_published".items') == [{"n": 1000}]
    assert len(project.read("mirror", "items")) == 1000
    states = {t.task: t.state for t in run_flow(load_flow("replicate_publish"), instance=project.instance).tasks}
    assert states.get("replicate_pg_items") == "CACHE_VALID" and states["replicate_warehouse_items"] == "CACHE_VALID", (
        states
    )

    fill(pg, schema, 991, 1010, version=2)
    third = run_flow(load_flow("replicate_publish"), instance=project.instance)
    assert third.ok, third.error
    assert {t.task: t.state for t in third.tasks}["replicate_warehouse_items"] == "COMPLETED"
    mirror = project.read("publish", "replicate_warehouse_items")[0]
    assert (mirror["mode"], mirror["inserted"], mirror["updated"]) == ("incremental", 10, 10)
    assert pg.execute(f'SELECT count(*) AS n, max(version) AS v FROM "{schema}_published".items') == [
        {"n": 1010, "v": 2}
    ]
    assert {r["id"]: r["version"] for r in project.read("mirror", "items")}[1000] == 2


def test_stagehouse_replicate_command_copies_once(project, pg_url, schema):
    fill(connect("pg"), schema, 1, 300, version=1)
    project.warehouse().close()  # the store exists once a flow ran; here none did
    done = subprocess.run(
        [STAGEHOUSE, "replicate", f"pg:{schema}.items", "warehouse", "copies", "--pk", "id"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "full copy to connection 'warehouse', table 'copies.items': 300 rows" in done.stdout
    assert len(project.read("copies", "items")) == 300
    bad = subprocess.run(
        [STAGEHOUSE, "replicate", f"pg:{schema}.items", "warehouse", "copies", "--incremental-field", "nope"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert bad.returncode == 1 and "no column 'nope'" in bad.stderr
