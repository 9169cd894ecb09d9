"""The ``cluster`` instance runs flows on a real dask.distributed cluster (``tests.dask_cluster``)
against PostgreSQL: the same tables as the sequential instance, per-task seconds and worker log
lines in the run history, stage subsets, a task's error as its own line, and a worker SIGKILLed
mid-task failing the run with the committed data intact and the next run completing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from stagehouse.flows.history import RunHistory
from tests.conftest import PG_SERVER, drop_database, sqlalchemy_url
from tests.dask_cluster import dask_cluster  # noqa: F401 (the session's cluster fixture)
from tests.test_cli import STAGEHOUSE
from tests.test_partitioned_sync import equal_to_the_whole_sync, source_table  # noqa: F401 (a fixture)

pytestmark = pytest.mark.postgres
CLUSTER = [pytest.param("cluster", marks=pytest.mark.postgres)]


@pytest.fixture
def shop(pg_url):
    """Source tables ``<prefix>_orders``, ``_customers``, ``_events`` in the PostgreSQL ``test`` database."""
    prefix = f"shc_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {prefix}_customers (id int PRIMARY KEY, name text)"))
        conn.execute(sa.text(f"INSERT INTO {prefix}_customers SELECT i, 'c' || i FROM generate_series(1, 50) i"))
        conn.execute(
            sa.text(f"CREATE TABLE {prefix}_orders (id int PRIMARY KEY, customer_id int, amount numeric(10,2))")
        )
        conn.execute(
            sa.text(f"INSERT INTO {prefix}_orders SELECT i, 1 + i % 50, i * 1.25 FROM generate_series(1, 2000) i")
        )
        conn.execute(sa.text(f"CREATE TABLE {prefix}_events (id int PRIMARY KEY, kind text)"))
        conn.execute(sa.text(f"INSERT INTO {prefix}_events SELECT i, 'k' || (i % 7) FROM generate_series(1, 3000) i"))
    yield prefix, engine
    with engine.begin() as conn:
        for table in ("orders", "customers", "events"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {prefix}_{table}"))
    engine.dispose()


def stagehouse(project, *args, env=None, wait=True):
    command = [STAGEHOUSE, *args]
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    if not wait:
        return subprocess.Popen(
            command, cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )
    return subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=90, env=environment)


def tables(engine: sa.Engine) -> dict[str, list[tuple]]:
    queries = {
        "raw.orders": "SELECT * FROM raw.orders ORDER BY id",
        "raw.customers": "SELECT * FROM raw.customers ORDER BY id",
        "raw.events": "SELECT * FROM raw.events ORDER BY id",
        "mart.order_totals": "SELECT * FROM mart.order_totals ORDER BY customer_id",
        "mart.event_kinds": "SELECT * FROM mart.event_kinds ORDER BY kind",
    }
    with engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(sa.text(query))] for name, query in queries.items()}


@pytest.fixture
def sequential_id(project):
    """The project's ``postgres`` (sequential) instance on a store database of its own."""
    document = yaml.safe_load(project.config_file.read_text())
    instance_id = f"{project.instance_id}_seq"
    document["instances"]["postgres"]["instance_id"] = instance_id
    project.config_file.write_text(yaml.safe_dump(document))
    yield instance_id
    drop_database(instance_id)


@pytest.mark.parametrize("instance", CLUSTER)
def test_a_flow_on_the_cluster_equals_the_sequential_run_and_records_seconds_and_worker_logs(
    project, shop, dask_cluster, sequential_id
):
    prefix, _ = shop
    env = {"DASK_SCHEDULER": dask_cluster, "SH_CLUSTER_PREFIX": prefix}
    on_cluster = stagehouse(project, "run", "scaled_shop", "--instance", "cluster", env=env)
    assert on_cluster.returncode == 0, on_cluster.stderr
    sequential = stagehouse(project, "run", "scaled_shop", "--instance", "postgres", env=env)
    assert sequential.returncode == 0, sequential.stderr
    store = project.store_engine()
    seq_store = sa.create_engine(f"{PG_SERVER}/{sequential_id}")
    try:
        got = tables(store)
        assert got == tables(seq_store) and len(got["raw.orders"]) == 2000 and len(got["mart.event_kinds"]) == 7
        history = RunHistory(store, "cluster")
        run = history.runs("scaled_shop")[0]
        assert run["status"] == "SUCCESS"
        tasks = {t["task"]: t for t in history.run(run["run_id"])["tasks"]}
        assert {t["state"] for t in tasks.values()} == {"COMPLETED"}
        assert all(t["seconds"] is not None and t["seconds"] > 0 for t in tasks.values()), tasks
        assert all(tasks[t]["rows_written"] for t in ("sync_orders", "sync_customers", "sync_events")), tasks
        assert any("cluster_probe: probe ran in pid" in line.message for line in history.logs(run["run_id"]))
        # one stage on the cluster: mart only, its inputs read from the committed raw stage
        mart = stagehouse(project, "run", "scaled_shop", "--stage", "mart", "--instance", "cluster", env=env)
        assert mart.returncode == 0, mart.stderr
        stage_run = history.run(history.runs("scaled_shop")[0]["run_id"])
        assert {t["stage"] for t in stage_run["tasks"] if t["state"] != "SKIPPED"} == {"mart"}
        assert tables(store) == got
    finally:
        store.dispose()
        seq_store.dispose()


@pytest.mark.parametrize("instance", CLUSTER)
def test_a_task_error_on_a_cluster_worker_is_its_own_line(project, shop, dask_cluster):
    env = {"DASK_SCHEDULER": dask_cluster, "SH_CLUSTER_PREFIX": shop[0], "SH_RAISE": "1"}
    failed = stagehouse(project, "run", "scaled_shop", "--instance", "cluster", env=env)
    assert failed.returncode == 1
    error = "connection 'crm', object 'contacts': HTTP 503 from https://crm.example/api/contacts; retry later"
    assert failed.stderr.strip().splitlines()[-1] == f"Error: {error}", failed.stderr
    store = project.store_engine()
    try:  # the run history a user reads (`stagehouse runs`): the failing task FAILED with its line
        history = RunHistory(store, "cluster")
        run = history.runs("scaled_shop")[0]
        tasks = {t["task"]: t for t in history.run(run["run_id"])["tasks"]}
    finally:
        store.dispose()
    assert run["status"] == "FAILED" and run["error"] == error
    assert tasks["probe"]["state"] == "FAILED" and tasks["probe"]["error"] == error, tasks
    assert tasks["probe"]["seconds"] is not None and tasks["probe"]["seconds"] > 0, tasks
    for name in ("sync_orders", "sync_customers", "sync_events"):  # beside it in the stage: ran to their end
        assert tasks[name]["state"] == "COMPLETED" and tasks[name]["error"] is None, tasks
        assert tasks[name]["seconds"] is not None and tasks[name]["seconds"] > 0, tasks
    # full syncs count what they wrote; a merge's rows are its load record's, in the uncommitted stage (as sequential)
    assert (tasks["sync_orders"]["rows_written"], tasks["sync_customers"]["rows_written"]) == (2000, 50), tasks
    assert {tasks[name]["state"] for name in ("order_totals", "event_kinds")} == {"SKIPPED"}, tasks


def test_no_scheduler_address_is_one_line(tmp_path, monkeypatch):
    from stagehouse.flows.cluster_engine import ClusterEngine
    from stagehouse.flows.worker_errors import ClusterUnreachableError

    with pytest.raises(ClusterUnreachableError, match="set DASK_SCHEDULER=tcp://host:8786"):
        ClusterEngine("")._client()


@pytest.mark.parametrize("instance", CLUSTER)
def test_a_worker_killed_mid_task_fails_the_run_keeps_the_committed_data_and_the_next_run_completes(
    project, shop, dask_cluster, tmp_path
):
    prefix, source = shop
    env = {"DASK_SCHEDULER": dask_cluster, "SH_CLUSTER_PREFIX": prefix}
    first = stagehouse(project, "run", "scaled_shop", "--instance", "cluster", env=env)
    assert first.returncode == 0, first.stderr
    store = project.store_engine()
    try:
        committed = tables(store)
        with source.begin() as conn:  # a change the killed run does not commit, the next one does
            conn.execute(sa.text(f"INSERT INTO {prefix}_orders SELECT i, 1, 1 FROM generate_series(2001, 2100) i"))
            conn.execute(sa.text(f"INSERT INTO {prefix}_events SELECT i, 'k0' FROM generate_series(3001, 3100) i"))
        hold = tmp_path / "hold"
        hold.write_text("")
        run = stagehouse(
            project,
            "run",
            "scaled_shop",
            "--instance",
            "cluster",
            env={**env, "SH_CLUSTER_HOLD": str(hold)},
            wait=False,
        )
        pid_file = Path(f"{hold}.pid")
        deadline = time.time() + 60
        while not pid_file.exists() and time.time() < deadline and run.poll() is None:
            time.sleep(0.05)
        assert pid_file.exists(), run.communicate()
        time.sleep(0.2)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the worker process running the probe task
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 1
        assert "was running on a Dask worker" in stderr.strip().splitlines()[-1] and "run the flow again" in stderr, (
            stderr
        )
        assert tables(store) == committed
        history = RunHistory(store, "cluster")
        killed = history.runs("scaled_shop")[0]
        probe = next(t for t in history.run(killed["run_id"])["tasks"] if t["task"] == "probe")
        assert killed["status"] == "FAILED" and probe["state"] == "FAILED", probe  # refused before pipedag ran it
        assert "was running on a Dask worker" in probe["error"], probe
        hold.unlink()
        rerun = stagehouse(project, "run", "scaled_shop", "--instance", "cluster", env=env)
        assert rerun.returncode == 0, rerun.stderr
        after = tables(store)
        assert len(after["raw.orders"]) == 2100 and len(after["raw.events"]) == 3100
        assert len({row[0] for row in after["raw.events"]}) == 3100  # nothing doubled
        assert history.runs("scaled_shop")[0]["status"] == "SUCCESS"
    finally:
        store.dispose()


@pytest.mark.parametrize("instance", CLUSTER)
def test_partitions_run_on_several_workers_and_equal_the_whole_sync(project, source_table, dask_cluster):
    """Full (binary COPY), merge and incremental (Arrow appends) partitioned syncs on the cluster
    write what the unpartitioned sync writes; each partition's line in the run's log names the
    worker it ran on, and they ran on more than one."""
    env = {"DASK_SCHEDULER": dask_cluster, "STAGEHOUSE_LOG_LEVEL": "INFO"}
    equal_to_the_whole_sync(project, source_table, env)
    store = project.store_engine()
    try:
        history = RunHistory(store, "cluster")
        lines = [line.message for run in history.runs("partitioned_sync") for line in history.logs(run["run_id"])]
    finally:
        store.dispose()
    parts = [
        re.search(r"partition (\d)/(\d) \((.+)\) on worker (\S+) \(pid (\d+)\): (\d+) rows", line) for line in lines
    ]
    syncs: list[list[re.Match]] = []  # a sync's partitions are logged together, 1/K first
    for m in filter(None, parts):
        syncs.append([m]) if m[1] == "1" else syncs[-1].append(m)
    assert len(syncs) == 8 and {len(s) for s in syncs} == {2, 3, 4}, lines  # 4 partitioned syncs, 2 runs
    # spread over the workers (round robin; the scheduler may still move a queued one to an idle worker)
    assert sum(len({m[4] for m in s}) > 1 for s in syncs) >= 1, "\n".join(m[0] for s in syncs for m in s)
    found = [m for s in syncs for m in s]
    assert any(m[3].startswith("grp ..") and m[3].endswith("and NULL") for m in found), lines
