"""The warehouse client refused by a DuckDB store another process holds says who holds it, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from stagehouse.connectors import StoreInUseError
from tests.sources import ORDERS, write_shop
from tests.test_cli import STAGEHOUSE
from tests.test_schedules_and_history import FLOW

pytestmark = pytest.mark.parametrize("instance", [pytest.param("local", id="duckdb")])


def test_fetch_while_a_run_or_a_program_holds_the_duckdb_store_names_it(project, tmp_path, monkeypatch):
    folder = tmp_path / "slow_flows"
    folder.mkdir()
    (folder / "slow.py").write_text(FLOW.format(name="slow", schedule=None).replace("SCHEDULE = None\n", ""))
    monkeypatch.setenv("STAGEHOUSE_FLOWS_PATH", str(folder))
    with project.warehouse() as wh:
        wh.write("crm", "notes", [{"id": 1}], pk="id")
    started = tmp_path / "started"
    run = subprocess.Popen(
        [STAGEHOUSE, "run", "slow"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SH_SLEEP": "60", "SH_STARTED_FILE": str(started)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert started.exists(), run.stderr.read().decode() if run.poll() is not None else "the slow run did not start"
        with project.warehouse() as wh, pytest.raises(StoreInUseError) as held:
            wh.fetch("crm", "notes")
        store = project.root / "data" / project.instance_id / "db.duckdb"
        assert str(held.value).startswith(
            f"connection 'warehouse', table store of instance 'local': the DuckDB store {store} is held by run "
        )
        assert "of flow slow (started " in str(held.value) and f"PID {run.pid} on " in str(held.value)
        assert str(held.value).endswith("; wait for that run to end, then retry")
    finally:
        run.kill()
        run.wait()

    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with project.warehouse() as wh, pytest.raises(StoreInUseError) as held:
            wh.fetch("crm", "notes")
        fresh = subprocess.run(  # a new process: its first connection is the one refused
            [STAGEHOUSE, "changes", "crm.notes"], cwd=project.root, capture_output=True, text=True, timeout=60
        )
    finally:
        holder.communicate("go\n", timeout=30)
    assert str(held.value).startswith(
        f"connection 'warehouse', table store of instance 'local': the DuckDB store {store} is held by "
    )
    assert str(held.value).endswith(  # the program as DuckDB names it (the interpreter's real path)
        f"python3.12 (PID {holder.pid}), not a Stagehouse run; close that program's connection (a duckdb shell, a "
        "notebook), then retry"
    )
    assert fresh.returncode == 1 and fresh.stderr.strip() == f"Error: {held.value}", fresh.stderr
    with project.warehouse() as wh:
        assert wh.fetch("crm", "notes") == [{"id": 1}]


GLANCE = """
import duckdb, sys, time
while True:
    try:
        duckdb.connect(sys.argv[1]).close()
    except duckdb.IOException:
        pass
    time.sleep(0.02)
"""


def test_a_run_outlasts_programs_glancing_at_the_duckdb_store_and_history_readers_name_it(project):
    """A run reopens its store file many times: a program opening it for a moment in between, and
    ``get_pipeline_runs`` asked while the run goes, must not fail the run."""
    from stagehouse.flows import get_pipeline_runs
    from stagehouse.flows.history import HistoryUnavailableError

    write_shop(project.files)
    store = project.root / "data" / project.instance_id / "db.duckdb"
    store.parent.mkdir(parents=True, exist_ok=True)
    glancer = subprocess.Popen([sys.executable, "-c", GLANCE, str(store)])
    run = subprocess.Popen(
        [STAGEHOUSE, "run", "files_mart"], cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    refusals = []
    try:
        while run.poll() is None:
            try:
                get_pipeline_runs("files_mart")
            except HistoryUnavailableError as exc:
                refusals.append(str(exc))
            time.sleep(0.02)
    finally:
        glancer.kill()
        glancer.wait()
    output = run.stdout.read()
    assert run.returncode == 0, output
    assert any(  # a reader is refused while the run holds the store, and told which run
        r.startswith("instance 'local': cannot read the run history now: run ")
        and " of flow files_mart (started " in r
        and f"PID {run.pid} on " in r
        for r in refusals
    ), refusals[:3]
    assert get_pipeline_runs("files_mart")[0]["status"] == "SUCCESS"
    with project.warehouse() as wh:
        assert len(wh.fetch("mart", "order_totals")) == len({row[1] for row in ORDERS})
