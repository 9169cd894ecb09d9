"""A writeback that resumes changes an earlier one claimed, or resends, judges them by the app.

The state a kill leaves is made exactly: the changes are claimed (PROCESSING, as the killed
writeback left them) and the requests it had sent are made to json-server directly. The next
writeback must mark what the app already holds PROCESSED without a second request.
"""

from __future__ import annotations

import httpx
import pytest

from stagehouse.connectors import push_changes
from tests.json_server import json_server, run_crm_writeback  # noqa: F401  (fixture)


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
    run_crm_writeback(project, stages=["raw"])
    return json_server


def writeback(project):
    from stagehouse.connectors import connect

    with project.warehouse() as wh, connect("crm") as api:
        return push_changes(wh, "raw.customers", api, "customers", concurrency=2)


def statuses(project):
    with project.warehouse() as wh:
        return {c["id"]: (c["writeback_status"], c["error"]) for c in wh.list_changes("raw.customers")}


def test_two_edits_of_one_cell_sent_before_a_kill_are_both_processed_on_resume(project, crm):
    with project.warehouse() as wh:
        first = wh.update_cell("raw.customers", "name", 1, "first name", pk="id")
        second = wh.update_cell("raw.customers", "name", 1, "second name", pk="id")
        wh.change_log.claim("raw.customers", ["NOT_PROCESSED"])  # the killed writeback's claim
    httpx.patch(f"{crm.url}/customers/1", json={"name": "second name"})  # its merged PATCH, statuses never saved
    patches = len(crm.logged("PATCH", "customers", 1))

    writeback(project)

    assert statuses(project) == {first: ("PROCESSED", None), second: ("PROCESSED", None)}
    assert len(crm.requests("PATCH", "customers")) == patches, "nothing was sent again"
    assert {r["id"]: r for r in crm.data()["customers"]}[1]["name"] == "second name"


def test_a_resumed_batch_of_deletes_sends_only_the_ones_not_yet_sent(project, crm):
    for i in range(6, 61):
        httpx.post(f"{crm.url}/customers", json={"id": i, "name": f"customer {i}", "city": "Ghent"})
    run_crm_writeback(project, stages=["raw"])
    with project.warehouse() as wh:
        for i in range(1, 61):
            wh.delete_row("raw.customers", i, pk="id")
        wh.change_log.claim("raw.customers", ["NOT_PROCESSED"])
    for i in range(1, 21):  # the killed writeback had sent 20 of them
        httpx.delete(f"{crm.url}/customers/{i}")
    before = len(crm.logged("DELETE", "customers", 20))

    writeback(project)

    deletes = crm.logged("DELETE", "customers", before + 40)[before:]
    assert len(deletes) == 40 and all(" 200 " in line for line in deletes), (
        "only the 40 unsent deletes, none answered 404"
    )
    assert crm.data()["customers"] == []
    assert {status for status, _ in statuses(project).values()} == {"PROCESSED"}


def test_resending_a_change_the_app_already_holds_marks_it_processed(project, crm):
    with project.warehouse() as wh:
        change = wh.update_cell("raw.customers", "city", 3, "Namur", pk="id")
    httpx.patch(f"{crm.url}/customers/3", json={"city": "Somewhere else"})
    writeback(project)
    assert statuses(project)[change][0] == "CONFLICT"
    httpx.patch(f"{crm.url}/customers/3", json={"city": "Namur"})  # someone sets the value the edit wanted
    patches = len(crm.logged("PATCH", "customers", 2))
    with project.warehouse() as wh:
        wh.update_change(change, "NOT_PROCESSED")

    writeback(project)

    assert statuses(project)[change] == ("PROCESSED", None)
    assert len(crm.requests("PATCH", "customers")) == patches


def test_an_insert_the_app_already_has_is_processed_when_equal_and_a_conflict_when_not(project, crm):
    with project.warehouse() as wh:
        same = wh.insert_row("raw.customers", {"id": 100, "name": "New Co", "city": "Leuven"}, pk="id")
        other = wh.insert_row("raw.customers", {"id": 101, "name": "Other Co", "city": "Liège"}, pk="id")
    httpx.post(f"{crm.url}/customers", json={"id": 100, "name": "New Co", "city": "Leuven"})
    httpx.post(f"{crm.url}/customers", json={"id": 101, "name": "Someone else's", "city": "Liège"})
    posts = len(crm.logged("POST", "customers", 2))

    writeback(project)

    result = statuses(project)
    assert result[same] == ("PROCESSED", None)
    assert result[other][0] == "CONFLICT" and 'name = "Someone else\'s"' in result[other][1]
    assert len(crm.requests("POST", "customers")) == posts
    assert {r["id"]: r for r in crm.data()["customers"]}[101]["name"] == "Someone else's"
