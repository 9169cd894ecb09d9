"""Peliqan's ``pq`` call forms on a ``type: rest`` connection, beside ours, against json-server."""

from __future__ import annotations

import pickle
import time

import httpx
import pytest

from stagehouse.connectors import RestCallError, connect
from tests.json_server import json_server  # noqa: F401  (fixture)


@pytest.fixture
def crm(json_server):  # noqa: F811
    specs = {"crm": {"type": "rest", "base_url": json_server.url, "objects": {"customers": {"path": "/customers"}}}}
    with connect("crm", specs=specs) as connection:
        yield connection


def by_id(json_server) -> dict:
    return {r["id"]: r for r in json_server.records("customers")}


def sent(json_server, method: str, path: str) -> list[str]:
    """The requests json-server logged so far: it logs after answering, so wait for a marker request's line."""
    httpx.get(f"{json_server.url}/customers?marker=1")
    deadline = time.monotonic() + 10
    while not json_server.requests("GET", "customers?marker=1") and time.monotonic() < deadline:
        time.sleep(0.02)
    return json_server.requests(method, path)


def test_get_and_delete_take_id_by_keyword_or_position(crm, json_server):
    assert crm.get("customers", id=2) == {"id": 2, "name": "customer 2", "city": "Ghent"}
    assert [line.split()[:3] for line in sent(json_server, "GET", "customers/")] == [["GET", "/customers/2", "200"]]  # the item URL
    assert crm.get("customers", 2) == crm.get("customers", id=2)
    assert crm.get("customers", id=99) is None

    assert crm.delete("customers", id=3) is True
    assert crm.delete("customers", 4) is True
    assert sorted(by_id(json_server)) == [1, 2, 5]


def test_add_takes_a_record_or_its_fields_as_keywords(crm, json_server):
    crm.add("customers", id=10, name="Ada", city="Leuven")
    crm.add("customers", {"id": 11, "name": "Bob", "city": "Mons"})

    rows = by_id(json_server)
    assert rows[10] == {"id": 10, "name": "Ada", "city": "Leuven"} and rows[11] == {"id": 11, "name": "Bob", "city": "Mons"}


def test_update_takes_the_id_inside_the_record_or_before_the_fields(crm, json_server):
    crm.update("customers", {"id": 1, "city": "Bruges"})            # Peliqan: update(obj, record)
    crm.update("customers", id=2, city="Antwerp")                   # Peliqan: update(obj, **record)
    crm.update("customers", 3, {"city": "Namur"})                   # ours
    crm.update("customers", 4, {"id": 4, "city": "Liège"})          # ours, the same id in the fields too

    rows = by_id(json_server)
    assert [rows[i]["city"] for i in (1, 2, 3, 4, 5)] == ["Bruges", "Antwerp", "Namur", "Liège", "Ghent"]
    assert [rows[i]["name"] for i in (1, 2, 3, 4)] == ["customer 1", "customer 2", "customer 3", "customer 4"]  # PATCH keeps the rest


def test_copy_by_keyword_id_with_changes_as_keywords(crm, json_server):
    plain = crm.copy("customers", id=1)
    renamed = crm.copy("customers", id=2, name="customer 2 (copy)")
    ours = crm.copy("customers", 3, {"city": "Ypres"})

    rows = by_id(json_server)
    assert len(rows) == 8 and len({plain["id"], renamed["id"], ours["id"]} - {1, 2, 3, 4, 5}) == 3  # new records, new ids
    assert {k: v for k, v in rows[plain["id"]].items() if k != "id"} == {"name": "customer 1", "city": "Ghent"}
    assert rows[renamed["id"]]["name"] == "customer 2 (copy)" and rows[renamed["id"]]["city"] == "Ghent"
    assert rows[ours["id"]] == {"id": ours["id"], "name": "customer 3", "city": "Ypres"}
    assert rows[1]["name"] == "customer 1"  # the original is untouched


def test_rename_by_keyword_id_and_name(crm, json_server):
    crm.rename("customers", id=1, name="Ada NV")
    crm.rename("customers", 2, "Bob BV")

    rows = by_id(json_server)
    assert rows[1] == {"id": 1, "name": "Ada NV", "city": "Ghent"} and rows[2]["name"] == "Bob BV"


@pytest.mark.parametrize(("call", "message"), [
    (lambda crm: crm.get("customers"), "get needs the record's id: pass it after the object name or as id="),
    (lambda crm: crm.delete("customers", 1, id=2), "delete got two ids, 1 and 2 (id=); pass one"),
    (lambda crm: crm.update("customers", {"city": "Mons"}), "update needs the record's id: pass it after the object name or as 'id' in the record"),
    (lambda crm: crm.update("customers", 1, {"id": 2, "city": "Mons"}), "update got two ids, 1 and 2 ('id' in the record); pass one"),
    (lambda crm: crm.rename("customers", id=1), "rename needs the record's new name: pass it after the object name or as name="),
    (lambda crm: crm.copy("customers", 1, id=3), "copy got two ids, 1 and 3 (id=); pass one"),
    (lambda crm: crm.add("customers"), "add needs a record: add('customers', {...}) or add('customers', field=value, ...)"),
], ids=["get_no_id", "delete_two_ids", "update_no_id", "update_two_ids", "rename_no_name", "copy_two_ids", "add_nothing"])
def test_wrong_call_shapes_are_refused_before_any_request(crm, json_server, call, message):
    with pytest.raises(RestCallError) as refused:
        call(crm)

    assert str(refused.value) == f"connection 'crm', object 'customers': {message}"
    again = pickle.loads(pickle.dumps(refused.value))
    assert (again.connection, again.obj, str(again)) == ("crm", "customers", str(refused.value))
    assert [line for method, path in (("GET", "customers/"), ("PATCH", "customers"), ("POST", "customers"), ("DELETE", "customers"))
            for line in sent(json_server, method, path)] == []
    assert by_id(json_server)[1] == {"id": 1, "name": "customer 1", "city": "Ghent"}
