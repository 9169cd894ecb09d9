"""``sync(..., partitions=K)`` writes the table an unpartitioned sync writes — full, merge (only the
delta partitioned) and incremental — on both stores; and the key ranges cover every row once."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.sql.partitioned import KeyRange
from tests.conftest import sqlalchemy_url
from tests.test_cli import STAGEHOUSE


@pytest.fixture
def source_table(pg_url):
    name = f"shp_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {name} (id bigint PRIMARY KEY, grp int, version int, label varchar(20), amount "
                "numeric(12,2))"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {name} SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE i % 37 END, 1, 'r' || i, i * 0.5 "
                "FROM generate_series(1, 3000) i"
            )
        )
    yield name, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def rows(project, table: str) -> list[tuple]:
    engine = project.store_engine()  # closed after each read: a DuckDB store file takes one process at a time
    try:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(sa.text(f"SELECT id, grp, version, label, amount FROM raw.{table} ORDER BY id"))
            ]
    finally:
        engine.dispose()


def run(project, table: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [STAGEHOUSE, "run", "partitioned_sync", "--instance", project.instance],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SH_PART_TABLE": f"public.{table}", **(env or {})},
    )
    assert done.returncode == 0, done.stderr


def test_partitioned_syncs_equal_the_whole_sync(project, source_table):
    equal_to_the_whole_sync(project, source_table)


def equal_to_the_whole_sync(project, source_table, env: dict[str, str] | None = None) -> None:
    """The flow's partitioned syncs (full, by a column with NULLs, merge, append) write what the
    whole sync writes, on a first run and on a delta; ``env`` for the runs (the cluster's test)."""
    table, source = source_table
    run(project, table, env)
    whole = rows(project, "whole")
    assert len(whole) == 3000 and sum(r[1] is None for r in whole) == 300
    for name in ("parts", "by_grp", "whole_merge", "parts_merge", "parts_append"):
        assert rows(project, name) == whole, name
    with source.begin() as conn:  # a delta: 100 rows changed, 500 new
        conn.execute(sa.text(f"UPDATE {table} SET version = 2, label = 'changed' WHERE id % 30 = 0"))
        conn.execute(
            sa.text(f"INSERT INTO {table} SELECT i, i % 37, 2, 'n' || i, i FROM generate_series(3001, 3500) i")
        )
    run(project, table, env)
    merged = rows(project, "whole_merge")
    assert len(merged) == 3500 and sum(r[3] == "changed" for r in merged) == 100
    assert rows(project, "parts_merge") == merged == rows(project, "parts") == rows(project, "whole")
    assert len(rows(project, "parts_append")) == 3500


def test_key_ranges_take_every_row_once_nulls_in_the_first():
    ranges = [KeyRange("id", None, 10), KeyRange("id", 10, 20), KeyRange("id", 20, None, CursorFilter("v", 3))]
    compiled = [str(r.condition().compile(compile_kwargs={"literal_binds": True})) for r in ranges]
    assert compiled == ["id < 10 OR id IS NULL", "id >= 10 AND id < 20", "v > 3 AND id >= 20"]


class _CommitsBeforeTheRanges:
    """A source connection that, as the first range starts reading, commits a transaction moving
    two rows past the cursor's maximum: one in the first range, one in the last."""

    def __init__(self, conn, engine, table: str) -> None:
        self._conn, self._engine, self._table, self._committed = conn, engine, table, False

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def read(self, *args, **kwargs):
        if not self._committed:
            self._committed = True
            with self._engine.begin() as c:
                c.execute(sa.text(f"UPDATE {self._table} SET version = 3 WHERE id IN (10, 2990)"))
        return self._conn.read(*args, **kwargs)


def test_a_delta_read_in_ranges_stops_at_the_cursor_maximum_taken_before_them(source_table):
    """Each range is its own query; a transaction committed while they are read is left whole to
    the next run, so the high-water mark (the greatest cursor read) never passes a row one range
    missed — the rows it moved read as before or not at all, never half."""
    from stagehouse.connectors.registry import connect
    from stagehouse.connectors.sql.partitioned import partitioned_read

    table, engine = source_table
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET version = 2 WHERE id IN (10, 20, 2990)"))
    url = engine.url.render_as_string(hide_password=False)
    source = connect("src", specs={"src": {"type": "sql", "url": url}})
    try:
        after = CursorFilter("version", 2, inclusive=True)
        stream = partitioned_read(
            _CommitsBeforeTheRanges(source, engine, table), table, None, after, 2, "id", "version"
        )()
        read = stream.read_all().to_pylist()
    finally:
        source.close()
    assert {r["id"]: r["version"] for r in read} == {20: 2}  # 10 and 2990 moved past the maximum: next run
    assert max(r["version"] for r in read) == 2


def test_a_partition_job_run_again_replaces_its_rows(source_table, pg_url):
    """The cluster runs a job again when its worker died after the job committed but before it
    reported: the range's rows must be there once, not twice, on both job kinds."""
    from functools import partial

    from stagehouse.connectors.sql.config import SqlConnectionConfig
    from stagehouse.connectors.sql.partition_jobs import AppendRange, CopyRange
    from stagehouse.connectors.sql.source import SqlConnection

    name, engine = source_table
    config = SqlConnectionConfig(type="sql", url=pg_url)
    reopen = partial(SqlConnection.from_config, "shop", config, Path())
    target = f"{name}_copy"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {target} (LIKE {name})"))
    try:
        schema = reopen().read(name, after=KeyRange("id", 0, 0)).schema
        parts = [KeyRange("id", None, 1001), KeyRange("id", 1001, None)]
        for job in [
            CopyRange(reopen, "shop", name, None, parts[0], 0, 2, pg_url, f'"public"."{target}"'),
            AppendRange(reopen, "shop", name, None, parts[1], 1, 2, pg_url, "public", target, schema),
        ]:
            assert job().rows == job().rows
        with engine.connect() as conn:
            copied = conn.execute(sa.text(f"SELECT count(*), count(DISTINCT id), sum(id) FROM {target}")).one()
            whole = conn.execute(sa.text(f"SELECT count(*), count(DISTINCT id), sum(id) FROM {name}")).one()
        assert tuple(copied) == tuple(whole)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {target}"))


def test_a_partition_job_running_twice_at_once_leaves_its_rows_once(pg_url):
    """A worker that froze (not died) can still be copying when the cluster starts the job again
    elsewhere: the second copy waits for the first to commit and replaces its rows, on both job
    kinds, so the range is there once."""
    import threading
    from functools import partial

    from stagehouse.connectors.sql.config import SqlConnectionConfig
    from stagehouse.connectors.sql.partition_jobs import AppendRange, CopyRange
    from stagehouse.connectors.sql.source import SqlConnection

    name = f"shp_twice_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    with engine.begin() as conn:  # big enough that two copies started together overlap
        conn.execute(
            sa.text(f"CREATE TABLE {name} AS SELECT i AS id, md5(i::text) AS token FROM generate_series(1, 200000) i")
        )
        conn.execute(sa.text(f"CREATE TABLE {name}_copy (LIKE {name})"))
    reopen = partial(SqlConnection.from_config, "shop", SqlConnectionConfig(type="sql", url=pg_url), Path())
    try:
        schema = reopen().read(name, after=KeyRange("id", 0, 0)).schema
        parts = [KeyRange("id", None, 100001), KeyRange("id", 100001, None)]
        for job in [
            CopyRange(reopen, "shop", name, None, parts[0], 0, 2, pg_url, f'"public"."{name}_copy"'),
            AppendRange(reopen, "shop", name, None, parts[1], 1, 2, pg_url, "public", f"{name}_copy", schema),
        ]:
            together = threading.Barrier(2)
            done: list[int] = []

            def copy(job=job, together=together, done=done) -> None:
                together.wait()
                done.append(job().rows)

            copies = [threading.Thread(target=copy) for _ in range(2)]
            for thread in copies:
                thread.start()
            for thread in copies:
                thread.join()
            assert done == [100000, 100000]
        with engine.connect() as conn:
            copied = conn.execute(sa.text(f"SELECT count(*), count(DISTINCT id) FROM {name}_copy")).one()
        assert tuple(copied) == (200000, 200000)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}, {name}_copy"))
        engine.dispose()
