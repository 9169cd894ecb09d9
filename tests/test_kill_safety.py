"""A sync killed with SIGKILL at any point loses no row and doubles none.

The run is a real `stagehouse run` subprocess. Its data and its cursor (max(id) of the committed
table) commit together in the stage's schema swap, so after any kill the committed table is the
last complete one and the next run re-extracts exactly the missing window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import sqlalchemy_url
from tests.kill_clock import KillClock
from tests.test_cli import STAGEHOUSE

KILL_POINTS = (0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 0.97)
BATCH = 40_000


@pytest.fixture
def growing_source(pg_url):
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_kill_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, payload TEXT, at TIMESTAMP)"))
    yield name, engine
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def add_rows(engine: sa.Engine, name: str, count: int) -> None:
    with engine.begin() as conn:
        start = conn.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar_one()
        conn.execute(
            sa.text(
                f"INSERT INTO {name} SELECT g, md5(g::text) || repeat('x', 50), now() FROM generate_series(:a, :b) g"
            ),
            {"a": start + 1, "b": start + count},
        )


def id_summary(engine: sa.Engine, table: str) -> tuple:
    """Count, distinct count, min, max and sum of ``id``; the engine lets go of the database after."""
    try:
        with engine.connect() as conn:
            return tuple(
                conn.execute(
                    sa.text(f"SELECT count(*), count(DISTINCT id), min(id), max(id), sum(id) FROM {table}")
                ).one()
            )
    finally:
        engine.dispose()


def test_killed_incremental_sync_never_loses_or_doubles_rows(project, growing_source):
    name, source = growing_source
    env = {**os.environ, "SH_KILL_TABLE": name}
    add_rows(source, name, BATCH)
    subprocess.run(
        [STAGEHOUSE, "run", "kill_sync"], cwd=project.root, env=env, check=True, capture_output=True, timeout=120
    )
    add_rows(source, name, BATCH)
    started = time.perf_counter()  # the kill points are fractions of an incremental run, the kind killed below
    subprocess.run(
        [STAGEHOUSE, "run", "kill_sync"], cwd=project.root, env=env, check=True, capture_output=True, timeout=120
    )
    duration = time.perf_counter() - started

    store = project.store_engine()
    clock = KillClock(duration)
    for point in KILL_POINTS:
        log = project.root / f"run-{point}.log"
        with log.open("w") as output:
            process = clock.run_killed(
                [STAGEHOUSE, "run", "kill_sync"],
                point=point,
                cwd=project.root,
                env=env,
                output=output,
                prepare=lambda: add_rows(source, name, BATCH),
            )
        assert process.returncode in (0, -signal.SIGKILL), (
            f"run failed on its own (exit {process.returncode}): {log.read_text()[-2000:]}"
        )
        count, distinct, low, high, _ = id_summary(store, '"raw"."events"')
        assert count == distinct and low == 1 and high == count, (
            f"after a kill at {point:.0%}: {count} rows, {distinct} distinct, max {high}"
        )

    final = subprocess.run(
        [STAGEHOUSE, "run", "kill_sync"], cwd=project.root, env=env, capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    assert id_summary(store, '"raw"."events"') == id_summary(source, name)
    assert clock.hits >= 4, (
        f"only {clock.hits} of {len(KILL_POINTS)} kills hit a running sync ({clock.duration:.1f} s runs)"
    )
