"""A writeback SIGKILLed at several points of a mixed batch sends every change exactly once.

Real subprocesses (`stagehouse run`) against json-server: killed after a few write requests,
killed again later in the resumed run, then run to the end. What counts is the app's own data
file, the requests it logged, the statuses in the change log and what the store shows after the
next sync.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.json_server import json_server  # noqa: F401  (fixture)
from tests.json_server import run_crm_writeback as run

WRITES = ("PATCH", "POST", "DELETE")
UPDATED, RENAMED, INSERTED, DELETED = range(1, 11), range(11, 16), range(1000, 1015), range(21, 36)


@pytest.fixture
def crm(project, json_server):  # noqa: F811
    for i in range(6, 41):
        httpx.post(f"{json_server.url}/customers", json={"id": i, "name": f"customer {i}", "city": "Ghent"})
    json_server.logged("POST", "customers", 35)
    project.add_connection(
        "crm",
        {
            "type": "rest",
            "base_url": json_server.url,
            "objects": {"customers": {"path": "/customers", "primary_key": ["id"]}},
        },
    )
    return json_server


def writes(crm) -> int:
    return sum(len(crm.requests(method, "customers")) for method in WRITES)


def run_killed_after(project, crm, more_writes: int) -> None:
    """Run the flow in a subprocess and SIGKILL it once the app has logged ``more_writes`` more writes."""
    target = writes(crm) + more_writes
    env = {**os.environ, "WRITEBACK_CONCURRENCY": "2", "PYTHONPATH": str(Path(__file__).parents[1])}
    command = [sys.executable, "-m", "stagehouse.flows.cli", "run", "crm_writeback", "--instance", project.instance]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while writes(crm) < target and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert child.poll() is None, f"the run ended before the kill: {child.stdout.read().decode()[-2000:]}"
    child.send_signal(signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize("json_server", [15], indirect=True)
def test_writeback_killed_twice_applies_each_change_once(project, crm):
    run(project)
    with project.warehouse() as wh:
        for i in UPDATED:  # two edits of one cell: merged into one PATCH
            wh.update_cell("raw.customers", "city", i, f"first {i}")
            wh.update_cell("raw.customers", "city", i, f"second {i}")
        for i in RENAMED:
            wh.update_cell("raw.customers", "name", i, f"renamed {i}")
        for i in INSERTED:
            wh.insert_row("raw.customers", {"id": i, "name": f"lead {i}", "city": "Mons"})
        for i in DELETED:
            wh.delete_row("raw.customers", i)
    before = {method: len(crm.requests(method, "customers")) for method in WRITES}

    run_killed_after(project, crm, 4)
    run_killed_after(project, crm, 15)
    run(project)

    app = {r["id"]: r for r in crm.data()["customers"]}
    assert [r["id"] for r in crm.data()["customers"]].count(1000) == 1 and len(app) == 40 - len(DELETED) + len(INSERTED)
    assert all(app[i]["city"] == f"second {i}" for i in UPDATED) and all(
        app[i]["name"] == f"renamed {i}" for i in RENAMED
    )
    assert all(app[i]["name"] == f"lead {i}" for i in INSERTED) and not set(DELETED) & set(app)
    assert all(app[i] == {"id": i, "name": f"customer {i}", "city": "Ghent"} for i in (16, 17, 36, 40))

    for method, rows in (("PATCH", [*UPDATED, *RENAMED]), ("DELETE", DELETED)):
        sent = crm.requests(method, "customers")[before[method] :]
        for i in rows:
            lines = [line for line in sent if line.split()[1] == f"/customers/{i}"]
            cut_off = [line for line in lines if line.split()[2] == "-"]
            assert 1 <= len(lines) <= 1 + len(cut_off), f"{method} /customers/{i} was sent {len(lines)} times: {lines}"
        assert all(line.split()[2] in ("-", "200") for line in sent), f"no {method} was answered 404: {sent}"
    posts = crm.requests("POST", "customers")[before["POST"] :]
    assert len(INSERTED) <= len(posts) <= len(INSERTED) + sum(line.split()[2] == "-" for line in posts)
    assert all(line.split()[2] in ("-", "201") for line in posts), "no insert was refused as a duplicate"

    with project.warehouse() as wh:
        changes = wh.list_changes("raw.customers")
        assert {c["writeback_status"] for c in changes} == {"PROCESSED"} and len(changes) == 55
    run(project)  # the next sync brings the app's data: the store shows exactly what the app holds
    with project.warehouse() as wh:
        assert {r["id"]: r for r in wh.fetch("raw", "customers")} == {
            i: {"id": i, "name": r["name"], "city": r["city"]} for i, r in app.items()
        }
        assert all(c["retired_at"] is not None for c in wh.list_changes("raw.customers"))
