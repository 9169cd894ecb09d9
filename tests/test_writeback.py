"""Edits layered on synced data and written back to json-server (a REST app nobody here wrote)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stagehouse.connectors import WarehouseError
from tests.json_server import by_id, json_server  # noqa: F401  (fixture)
from tests.json_server import run_crm_writeback as run


@pytest.fixture
def crm(project, json_server):  # noqa: F811
    project.add_connection(
        "crm",
        {
            "type": "rest",
            "base_url": json_server.url,
            "objects": {"customers": {"path": "/customers", "primary_key": ["id"]}},
        },
    )
    return json_server


def test_edits_are_layered_on_reads_and_survive_a_sync(project, crm):
    run(project)
    with project.warehouse() as wh:
        wh.update_cell("raw.customers", "name", 1, "Ada (edited)", pk="id")
        wh.insert_row("raw.customers", {"id": 100, "name": "New Co", "city": "Leuven"})
        wh.delete_row("raw.customers", 5)
        seen = by_id(wh.fetch("raw", "customers"))
        assert seen[1]["name"] == "Ada (edited)" and seen[100]["city"] == "Leuven" and 5 not in seen
        assert by_id(project.read("raw", "customers"))[1]["name"] == "customer 1"  # the synced table is untouched
        assert len(wh.list_changes("raw.customers", writeback_status="NOT_PROCESSED")) == 3
        assert [c["type"] for c in wh.list_changes("raw.customers", type=["i", "d"])] == ["i", "d"]

    httpx.post(f"{crm.url}/customers", json={"id": 6, "name": "customer 6", "city": "Ghent"})
    run(project, stages=["raw"])
    with project.warehouse() as wh:
        seen = by_id(wh.fetch("raw", "customers"))
    assert seen[1]["name"] == "Ada (edited)" and 6 in seen and 100 in seen and 5 not in seen


@pytest.mark.parametrize("batch_lookup", [None, {"param": "id", "max_ids": 2}], ids=["get_per_row", "batch_lookup"])
def test_writeback_processes_fails_and_detects_conflicts(project, crm, batch_lookup, caplog):
    if batch_lookup:  # conflict check reads ?id=1&id=2 pages from json-server instead of one GET per row
        project.add_connection(
            "crm",
            {
                "type": "rest",
                "base_url": crm.url,
                "objects": {"customers": {"path": "/customers", "primary_key": ["id"], "batch_lookup": batch_lookup}},
            },
        )
    run(project)
    with project.warehouse() as wh:
        ok = wh.update_cell("raw.customers", "city", 1, "Antwerp", pk="id")
        conflict = wh.update_cell("raw.customers", "name", 2, "Bea", pk="id")
        missing = wh.update_cell("raw.customers", "name", 3, "Cy", pk="id")
        added = wh.insert_row("raw.customers", {"id": 100, "name": "New Co", "city": "Leuven"})
        deleted = wh.delete_row("raw.customers", 4)
    httpx.patch(f"{crm.url}/customers/2", json={"name": "changed in the app"})  # someone else edits the app
    httpx.delete(f"{crm.url}/customers/3")  # the app no longer has 3

    run(project)

    warned = [r.getMessage() for r in caplog.records if r.name == "stagehouse.tasks.writeback"]
    assert warned == [
        "writeback of raw.customers to crm.customers: 1 CONFLICT, 1 FAILED "
        f"(see: stagehouse changes raw.customers --status CONFLICT --status FAILED --instance {project.instance})"
    ]
    app = by_id(crm.records("customers"))
    assert app[1]["city"] == "Antwerp" and app[100]["name"] == "New Co" and 4 not in app
    assert app[2]["name"] == "changed in the app"  # a conflict is not overwritten
    with project.warehouse() as wh:
        status = {c["id"]: c for c in wh.list_changes("raw.customers")}
        assert {k: status[k]["writeback_status"] for k in (ok, added, deleted)} == {
            ok: "PROCESSED",
            added: "PROCESSED",
            deleted: "PROCESSED",
        }
        assert status[conflict]["writeback_status"] == "CONFLICT" and "changed in the app" in status[conflict]["error"]
        assert status[missing]["writeback_status"] == "FAILED" and "HTTP 404" in status[missing]["error"]
        assert "customers/3" in status[missing]["error"]
        result = project.read("writeback", "writeback_customers")
        assert {r["writeback_status"] for r in result} == {"PROCESSED", "CONFLICT", "FAILED"}
        lookups = [line for line in crm.requests("GET", "customers") if "id=" in line]
        assert len(lookups) == (3 if batch_lookup else 0)  # rows 1, 2, 3, 100, 4 checked two ids a request

        assert [c["id"] for c in wh.list_changes("raw.customers", status=["conflict", "Failed"])] == [conflict, missing]
        with pytest.raises(
            WarehouseError,
            match=r"unknown status DONE \(use one of NOT_PROCESSED, PROCESSING, PROCESSED, FAILED, CONFLICT, "
            r"DISCARDED\)",
        ):
            wh.list_changes("raw.customers", status="done")
        with pytest.raises(WarehouseError, match=r"table 'raw.customer': does not exist; did you mean raw.customers"):
            wh.list_changes("raw.customer")
        assert wh.list_changes("raw.customers", type="D") == [status[deleted]]
        wh.update_change(missing, "NOT_PROCESSED")
        assert wh.list_changes("raw.customers", writeback_status=["NOT_PROCESSED"])[0]["id"] == missing


@pytest.mark.parametrize("json_server", [15], indirect=True)
def test_killed_writeback_applies_each_change_exactly_once_on_rerun(project, crm, tmp_path):
    run(project)
    with project.warehouse() as wh:
        for i in range(1000, 1150):
            wh.insert_row("raw.customers", {"id": i, "name": f"lead {i}", "city": "Mons"}, pk="id")
        for i in (1, 2):
            wh.update_cell("raw.customers", "city", i, "Bruges", pk="id")

    env = {**os.environ, "WRITEBACK_CONCURRENCY": "2", "PYTHONPATH": str(Path(__file__).parents[1])}
    command = [sys.executable, "-m", "stagehouse.flows.cli", "run", "crm_writeback", "--instance", project.instance]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while len(crm.requests("POST", "customers")) < 30 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert child.poll() is None, f"writeback ended before the kill: {child.stdout.read().decode()[-2000:]}"
    child.send_signal(signal.SIGKILL)
    child.wait()
    sent_before_kill = len(crm.requests("POST", "customers"))
    assert 30 <= sent_before_kill < 150

    run(project)

    posts = crm.requests("POST", "customers")
    aborted = crm.aborted("POST", "customers")  # cut off by the kill: applied or not, the rerun checks
    assert 150 <= len(posts) <= 150 + len(aborted) and len(aborted) <= 2, (
        "every insert was sent once (a cut-off one at most once more)"
    )
    assert all(" 201 " in line for line in crm.answered("POST", "customers")), "no insert was refused as a duplicate"
    ids = [r["id"] for r in crm.data()["customers"]]
    assert len(ids) == len(set(ids)) == 155
    app = by_id(crm.records("customers"))
    assert all(i in app for i in range(1000, 1150)) and app[1]["city"] == "Bruges"
    with project.warehouse() as wh:
        assert {c["writeback_status"] for c in wh.list_changes("raw.customers")} == {"PROCESSED"}


def test_a_writeback_that_could_not_send_is_refused_before_it_claims_an_edit(project, crm, pg_url):
    """A SQL connection as the target, a misspelled table, an unknown object or a field_map naming
    no column: one line each, and the edits stay NOT_PROCESSED (a SQL target had left them
    PROCESSING for good; a misspelled table completed with nothing sent, run after run)."""
    from stagehouse.connectors import ConnectionConfigError, connect
    from stagehouse.connectors.writeback import push_changes

    run(project)
    project.add_connection("shop_db", {"type": "sql", "url": pg_url})
    with project.warehouse() as wh:
        wh.update_cell("raw.customers", "name", 1, "Ada (edited)")
        api, db = connect("crm"), connect("shop_db")
        try:
            with pytest.raises(ConnectionConfigError) as sql_target:
                push_changes(wh, "raw.customers", db, "public.customers")
            assert str(sql_target.value) == (
                "connection 'shop_db': writeback sends edits to an app's API, a type: rest connection, not a sql one; "
                "name the app's REST connection (a database takes the table with replicate)"
            )
            with pytest.raises(WarehouseError, match=r"table 'raw.custmers'"):
                push_changes(wh, "raw.custmers", api, "customers")
            with pytest.raises(ConnectionConfigError, match=r"no object 'custmers' under objects \(known: customers\)"):
                push_changes(wh, "raw.customers", api, "custmers")
            with pytest.raises(WarehouseError, match=r"field_map names no column 'nmae'; did you mean name\?"):
                push_changes(wh, "raw.customers", api, "customers", field_map={"nmae": "fullName"})
        finally:
            api.close()
            db.close()
        assert [c["writeback_status"] for c in wh.list_changes("raw.customers")] == ["NOT_PROCESSED"]


def test_an_insert_the_app_beat_to_its_key_shows_the_users_row_not_a_mix(project, crm):
    """The user inserts id 7 (and then edits its city); the app creates id 7 first with other
    values. The insert is a CONFLICT, and reads show what the user asked for: the inserted name
    with the edited city — they showed the app's name with the user's city, a row nobody made."""
    run(project)
    with project.warehouse() as wh:
        added = wh.insert_row("raw.customers", {"id": 7, "name": "Gus", "city": "Rome"})
        wh.update_cell("raw.customers", "city", 7, "Milan")
    httpx.post(f"{crm.url}/customers", json={"id": 7, "name": "Gustav", "city": "Oslo"}).raise_for_status()

    run(project)

    assert by_id(crm.records("customers"))[7]["name"] == "Gustav"  # the app's record is not overwritten
    with project.warehouse() as wh:
        assert {c["id"]: c["writeback_status"] for c in wh.list_changes("raw.customers")}[added] == "CONFLICT"
        shown = by_id(wh.fetch("raw", "customers"))[7]
        assert (shown["name"], shown["city"]) == ("Gus", "Milan")
        assert by_id(wh.fetch("raw", "customers", overlay=False))[7]["name"] == "Gustav"
        assert len(wh.fetch("raw", "customers")) == len(wh.fetch("raw", "customers", overlay=False))
