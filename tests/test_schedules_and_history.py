"""Schedules decide which flows `stagehouse run --due` runs; every run lands in the run history;
two runs of one flow never overlap; a killed run is marked KILLED by the next one."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from stagehouse.flows import get_pipeline_logs, get_pipeline_runs
from tests.test_cli import STAGEHOUSE

FLOW = '''"""Test flow {name}."""
import os
import time
from pathlib import Path

import polars as pl
from pydiverse.pipedag import Flow, Stage, Table, materialize

SCHEDULE = {schedule!r}


@materialize(version=None)
def numbers():
    if os.environ.get("SH_FAIL_FLOW") == "{name}":
        raise RuntimeError("numbers broke on purpose")
    if os.environ.get("SH_STARTED_FILE"):
        Path(os.environ["SH_STARTED_FILE"]).write_text("started")
    time.sleep(float(os.environ.get("SH_SLEEP", "0")))
    return Table(pl.DataFrame({{"n": [1, 2, 3]}}), name="numbers")


def build_flow():
    with Flow("{name}") as flow:
        with Stage("{name}_raw"):  # a stage of its own: stages are schemas shared by every flow
            numbers()
    return flow
'''


@pytest.fixture
def scheduled(project, tmp_path, monkeypatch):
    """A flows folder with hourly `upstream`, `downstream` (after upstream), daily `daily` and `broken`."""
    folder = tmp_path / "scheduled_flows"
    folder.mkdir()
    specs = {
        "upstream": {"interval": 3600},
        "downstream": {"interval": 3600, "after": ["upstream"]},
        "daily": {"interval": 86400, "start_time": "06:00"},
        "broken": "0 * * * *",
        "unscheduled": None,
    }
    for name, schedule in specs.items():
        text = FLOW.format(name=name, schedule=schedule)
        if schedule is None:
            text = text.replace("SCHEDULE = None\n", "")
        (folder / f"{name}.py").write_text(text)
    monkeypatch.setenv("STAGEHOUSE_FLOWS_PATH", str(folder))
    return project


def stagehouse(project, *args, env=None):
    return subprocess.run(
        [STAGEHOUSE, *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_run_due_runs_due_flows_in_order_then_only_when_a_slot_passed(scheduled):
    project = scheduled
    first = dt.datetime.now(dt.UTC).replace(microsecond=0)
    due = stagehouse(project, "run", "--due", "--now", first.isoformat(), env={"SH_FAIL_FLOW": "broken"})
    assert due.returncode == 1, due.stdout + due.stderr  # broken failed: the cron job must see it
    assert "broken" in due.stderr and "numbers broke on purpose" in due.stderr
    ran = [line.split(":")[0] for line in due.stdout.splitlines() if ": done" in line]
    assert sorted(ran) == ["daily", "downstream", "upstream"] and ran.index("upstream") < ran.index("downstream")
    runs = get_pipeline_runs(instance=project.instance)
    assert {r["flow"]: r["status"] for r in runs} == {
        "upstream": "SUCCESS",
        "downstream": "SUCCESS",
        "daily": "SUCCESS",
        "broken": "FAILED",
    }
    assert {r["run_trigger"] for r in runs} == {"schedule"}

    again = stagehouse(project, "run", "--due", "--now", first.isoformat())
    assert again.returncode == 0 and "no flow is due" in again.stdout, again.stdout + again.stderr

    next_day = stagehouse(project, "run", "--due", "--now", (first + dt.timedelta(days=1)).isoformat())
    assert next_day.returncode == 0, next_day.stderr
    assert sorted(line.split(":")[0] for line in next_day.stdout.splitlines() if ": done" in line) == [
        "broken",
        "daily",
        "downstream",
        "upstream",
    ]
    assert len(get_pipeline_runs(instance=project.instance)) == 8


def test_history_keeps_tasks_and_logs_of_successful_and_failed_runs(scheduled):
    project = scheduled
    assert stagehouse(project, "run", "unscheduled").returncode == 0
    assert stagehouse(project, "run", "unscheduled", env={"SH_FAIL_FLOW": "unscheduled"}).returncode == 1
    newest, oldest = get_pipeline_runs("unscheduled", instance=project.instance)
    assert (newest["status"], oldest["status"]) == ("FAILED", "SUCCESS")
    assert newest["run_trigger"] == "manual" and "numbers broke on purpose" in newest["error"]
    failed = newest
    assert [(t["task"], t["state"], t["rows_written"]) for t in oldest["tasks"]] == [("numbers", "COMPLETED", 3)]
    assert newest["tasks"][0]["state"] == "FAILED" and oldest["ended_at"] >= oldest["started_at"]
    lines = [line.message for line in get_pipeline_logs(failed["run_id"], instance=project.instance)]
    assert any("task unscheduled_raw.numbers: FAILED" in m for m in lines) and any(
        "numbers broke on purpose" in m for m in lines
    )

    listed = stagehouse(project, "runs", "unscheduled")
    assert (
        listed.returncode == 0
        and failed["run_id"] in listed.stdout
        and "FAILED" in listed.stdout
        and "SUCCESS" in listed.stdout
    )
    logs = stagehouse(project, "logs", oldest["run_id"])
    assert logs.returncode == 0 and "task unscheduled_raw.numbers: COMPLETED, 3 rows" in logs.stdout
    unknown = stagehouse(project, "logs", "nosuchrun")
    assert unknown.returncode == 1 and "no log lines for run 'nosuchrun'" in unknown.stderr


def test_logs_and_pictures_take_the_start_of_a_run_id_and_piped_runs_keep_whole_rows(scheduled):
    from stagehouse.flows import load_flow, run_flow

    project = scheduled
    for run_id in ("abc1a2b3c4d5", "abc9f8e7d6c5"):
        assert run_flow(load_flow("unscheduled"), instance=project.instance, run_id=run_id).ok

    logs = stagehouse(project, "logs", "abc9")
    assert logs.returncode == 0, logs.stderr
    assert "run abc9f8e7d6c5 of flow unscheduled" in logs.stdout and "abc1a2b3c4d5" not in logs.stdout
    ambiguous = stagehouse(project, "logs", "abc")
    assert ambiguous.returncode == 1
    assert (
        ambiguous.stderr.strip()
        == "Error: run id 'abc' matches 2 runs (abc9f8e7d6c5, abc1a2b3c4d5); give more of its digits"
    )
    piped = stagehouse(project, "runs", env={"COLUMNS": "80"})  # into a file or grep: a row per line, nothing folded
    rows = [line for line in piped.stdout.splitlines() if "abc" in line]
    assert len(rows) == 2 and all("unscheduled" in row and "SUCCESS" in row for row in rows), piped.stdout
    picture = stagehouse(project, "visualize", "unscheduled", "--run", "abc1", "--out", str(project.root / "run.svg"))
    assert picture.returncode == 0, picture.stderr
    assert "<svg" in (project.root / "run.svg").read_text()


def test_overlapping_run_is_skipped_and_a_killed_run_is_marked_killed(scheduled, tmp_path):
    project = scheduled
    started = tmp_path / "started"
    slow = subprocess.Popen(
        [STAGEHOUSE, "run", "unscheduled"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SH_SLEEP": "60", "SH_STARTED_FILE": str(started)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), (
            slow.stderr.read1().decode() if slow.poll() is not None else "the slow run did not start"
        )
        second = stagehouse(project, "run", "unscheduled", "--overlap", "skip")
        assert second.returncode == 0 and "skipped" in second.stdout, second.stdout + second.stderr
        named = re.search(
            r"run ([0-9a-f]{12}) of flow unscheduled \(started [0-9-]+ [0-9:]+ UTC, PID (\d+)", second.stdout
        )
        assert named and int(named[2]) == slow.pid, second.stdout  # the running run, not "(run None)"
    finally:
        os.killpg(slow.pid, signal.SIGKILL)
        slow.wait()
    listed = stagehouse(project, "runs", "unscheduled")  # before any run marks it: its process is gone
    assert listed.returncode == 0 and "KILLED" in listed.stdout and "RUNNING" not in listed.stdout, (
        listed.stdout + listed.stderr
    )
    rerun = stagehouse(project, "run", "unscheduled")
    assert rerun.returncode == 0, rerun.stderr
    runs = get_pipeline_runs("unscheduled", instance=project.instance)
    assert runs[0]["status"] == "SUCCESS"
    assert {r["run_id"]: r["status"] for r in runs}[
        named[1]
    ] == "KILLED"  # the run the skip named, marked by the run after it


def test_two_runs_started_together_both_succeed_the_second_waits(scheduled):
    """Two `stagehouse run` 0.3 s apart, several times: the second waits for the first (on DuckDB
    the file is one process's at a time) and both are in the history. Start-up time varies with
    the machine's load, so overlap is asserted for at least one try, success for every one."""
    project = scheduled
    tries, waited = 3, 0
    for attempt in range(tries):
        first = subprocess.Popen(
            [STAGEHOUSE, "run", "unscheduled"],
            cwd=project.root,
            env={**os.environ, "SH_SLEEP": "4", "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.3)
        second = stagehouse(project, "run", "unscheduled")
        first_out, first_err = first.communicate(timeout=300)
        assert first.returncode == 0, f"try {attempt}: first run: {first_err}"
        assert second.returncode == 0, f"try {attempt}: second run: {second.stderr}"
        waited += (
            "waiting:" in first_err + second.stderr
            and "is in progress; this run starts when it ends" in first_err + second.stderr
        )
    assert waited >= 1, f"no try overlapped: {first_err} {second.stderr}"
    runs = get_pipeline_runs("unscheduled", instance=project.instance)
    assert [r["status"] for r in runs] == ["SUCCESS"] * 2 * tries


@pytest.mark.parametrize("instance", [pytest.param("local", id="duckdb")])
def test_a_process_outside_stagehouse_holding_the_duckdb_store_is_waited_for_then_named(scheduled, tmp_path):
    project = scheduled
    assert stagehouse(project, "run", "unscheduled").returncode == 0  # the store file exists
    store = project.root / "data" / project.instance_id / "db.duckdb"
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline()"

    def holder() -> subprocess.Popen:
        """A Python process holding the store file until a line arrives on its stdin."""
        process = subprocess.Popen(
            [sys.executable, "-c", hold, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout.readline().strip() == "held"
        return process

    brief = holder()  # lets go while the run waits: the run says for whom, then runs
    run = subprocess.Popen(
        [STAGEHOUSE, "run", "unscheduled"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "1000", "STAGEHOUSE_STORE_WAIT": "120"},
    )
    said = run.stderr.readline()
    brief.communicate("go\n", timeout=30)
    out, err = run.communicate(timeout=300)
    assert said.startswith("waiting:") and "is held by " in said and f"(PID {brief.pid})" in said, said + err
    assert run.returncode == 0, said + err

    stubborn = holder()
    try:
        refused = stagehouse(project, "run", "unscheduled", env={"STAGEHOUSE_STORE_WAIT": "1", "COLUMNS": "1000"})
    finally:
        stubborn.communicate("go\n", timeout=30)
    assert refused.returncode == 1
    error = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and f"(PID {stubborn.pid})" in error[0] and "not a Stagehouse run" in error[0], (
        refused.stderr
    )
