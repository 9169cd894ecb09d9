"""Written-back edits stay layered on reads until the synced data confirms them (json-server app)."""

from __future__ import annotations

import httpx
import pytest

from tests.json_server import by_id, json_server  # noqa: F401  (fixture)
from tests.json_server import run_crm_writeback as run


@pytest.fixture
def crm(project, json_server, monkeypatch):  # noqa: F811
    """json-server's customers with an ``updated_at`` cursor, as a REST object the flow merge-syncs
    (``CRM_SYNC_MODE=full``: full-syncs)."""
    monkeypatch.setenv("CRM_SYNC_MODE", "merge")
    for i in range(1, 6):
        httpx.patch(f"{json_server.url}/customers/{i}", json={"updated_at": f"2024-01-0{i}T00:00:00"})
    objects = {"customers": {"path": "/customers", "primary_key": ["id"], "incremental": {"param": "updated_at_gte"}}}
    project.add_connection("crm", {"type": "rest", "base_url": json_server.url, "objects": objects})
    return json_server


def test_written_back_edits_stay_shown_after_a_merge_sync_that_does_not_fetch_them(project, crm):
    run(project)
    with project.warehouse() as wh:
        edited = wh.update_cell("raw.customers", "name", 1, "Ada")
        deleted = wh.delete_row("raw.customers", 2)

    run(project)  # the writeback sends both; the app does not move updated_at
    app = by_id(crm.data()["customers"])
    assert app[1]["name"] == "Ada" and 2 not in app

    run(project)  # the merge sync fetches neither record again, and cannot see the delete
    with project.warehouse() as wh:
        seen = by_id(wh.fetch("raw", "customers"))
        assert seen[1]["name"] == "Ada" and 2 not in seen
        assert by_id(wh.fetch("raw", "customers", overlay=False))[1]["name"] == "customer 1"  # what the sync holds
        status = {c["id"]: c for c in wh.list_changes("raw.customers")}
    assert {status[edited]["writeback_status"], status[deleted]["writeback_status"]} == {"PROCESSED"}
    assert status[edited]["retired_at"] is None and status[deleted]["retired_at"] is None


def test_the_apps_later_change_wins_over_a_written_back_edit_once_a_sync_brings_it(project, crm):
    run(project)
    with project.warehouse() as wh:
        edited = wh.update_cell("raw.customers", "name", 1, "Ada")
    run(project)
    httpx.patch(f"{crm.url}/customers/1", json={"name": "Ada Lovelace", "updated_at": "2024-02-01T00:00:00"})

    run(project)  # the sync brings the app's newer value: the edit is done with

    with project.warehouse() as wh:
        assert by_id(wh.fetch("raw", "customers"))[1]["name"] == "Ada Lovelace"
        assert wh.list_changes("raw.customers")[0]["retired_at"] is not None
        assert [c["id"] for c in wh.list_changes("raw.customers")] == [edited]


def test_a_full_sync_confirms_updates_inserts_and_deletes_and_they_retire(project, crm, monkeypatch):
    monkeypatch.setenv("CRM_SYNC_MODE", "full")
    run(project)
    with project.warehouse() as wh:
        wh.update_cell("raw.customers", "city", 1, "Antwerp")
        wh.update_cell("raw.customers", "city", 1, "Bruges")
        wh.insert_row("raw.customers", {"id": 100, "name": "New Co", "city": "Leuven"})
        wh.delete_row("raw.customers", 4)
    run(project)  # sent; the sync of this run ran before the writeback
    with project.warehouse() as wh:
        assert all(c["retired_at"] is None for c in wh.list_changes("raw.customers"))

    run(project)  # this run's sync holds every written value: all confirmed

    with project.warehouse() as wh:
        changes = wh.list_changes("raw.customers")
        assert [c["writeback_status"] for c in changes] == ["PROCESSED"] * 4
        assert all(c["retired_at"] is not None for c in changes)
        seen = by_id(wh.fetch("raw", "customers"))
    assert seen[1]["city"] == "Bruges" and seen[100]["name"] == "New Co" and 4 not in seen
    httpx.patch(f"{crm.url}/customers/1", json={"city": "Ghent again"})
    run(project)
    with project.warehouse() as wh:
        assert by_id(wh.fetch("raw", "customers"))[1]["city"] == "Ghent again"  # retired edits no longer mask the app


def test_the_app_setting_a_value_back_after_a_writeback_is_shown_once_a_sync_brings_it(project, crm):
    run(project)
    with project.warehouse() as wh:
        wh.update_cell("raw.customers", "name", 1, "Ada")
        wh.delete_row("raw.customers", 2)
    run(project)
    httpx.patch(
        f"{crm.url}/customers/1", json={"name": "customer 1", "updated_at": "2024-02-01T00:00:00"}
    )  # undone in the app
    httpx.post(
        f"{crm.url}/customers", json={"id": 2, "name": "customer 2 again", "updated_at": "2024-02-02T00:00:00"}
    )  # re-created

    run(project)

    with project.warehouse() as wh:
        seen = by_id(wh.fetch("raw", "customers"))
        assert seen[1]["name"] == "customer 1" and seen[2]["name"] == "customer 2 again"
        assert all(c["retired_at"] is not None for c in wh.list_changes("raw.customers"))
