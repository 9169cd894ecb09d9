"""Peliqan's ``pq`` call forms on a ``type: rest`` connection, beside ours, against json-server."""

from __future__ import annotations

import pickle
import time

import httpx
import pytest

from stagehouse.connectors import RestCallError, SourceError, connect
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
    assert [line.split()[:3] for line in sent(json_server, "GET", "customers/")] == [
        ["GET", "/customers/2", "200"]
    ]  # the item URL
    assert crm.get("customers", 2) == crm.get("customers", id=2)
    assert crm.get("customers", id=99) is None

    assert crm.delete("customers", id=3) is True
    assert crm.delete("customers", 4) is True
    assert sorted(by_id(json_server)) == [1, 2, 5]


def test_add_takes_a_record_or_its_fields_as_keywords(crm, json_server):
    crm.add("customers", id=10, name="Ada", city="Leuven")
    crm.add("customers", {"id": 11, "name": "Bob", "city": "Mons"})

    rows = by_id(json_server)
    assert rows[10] == {"id": 10, "name": "Ada", "city": "Leuven"} and rows[11] == {
        "id": 11,
        "name": "Bob",
        "city": "Mons",
    }


def test_update_takes_the_id_inside_the_record_or_before_the_fields(crm, json_server):
    crm.update("customers", {"id": 1, "city": "Bruges"})  # Peliqan: update(obj, record)
    crm.update("customers", id=2, city="Antwerp")  # Peliqan: update(obj, **record)
    crm.update("customers", 3, {"city": "Namur"})  # ours
    crm.update("customers", 4, {"id": 4, "city": "Liège"})  # ours, the same id in the fields too

    rows = by_id(json_server)
    assert [rows[i]["city"] for i in (1, 2, 3, 4, 5)] == ["Bruges", "Antwerp", "Namur", "Liège", "Ghent"]
    assert [rows[i]["name"] for i in (1, 2, 3, 4)] == [
        "customer 1",
        "customer 2",
        "customer 3",
        "customer 4",
    ]  # PATCH keeps the rest


def test_copy_by_keyword_id_with_changes_as_keywords(crm, json_server):
    plain = crm.copy("customers", id=1)
    renamed = crm.copy("customers", id=2, name="customer 2 (copy)")
    ours = crm.copy("customers", 3, {"city": "Ypres"})

    rows = by_id(json_server)
    assert (
        len(rows) == 8 and len({plain["id"], renamed["id"], ours["id"]} - {1, 2, 3, 4, 5}) == 3
    )  # new records, new ids
    assert {k: v for k, v in rows[plain["id"]].items() if k != "id"} == {"name": "customer 1", "city": "Ghent"}
    assert rows[renamed["id"]]["name"] == "customer 2 (copy)" and rows[renamed["id"]]["city"] == "Ghent"
    assert rows[ours["id"]] == {"id": ours["id"], "name": "customer 3", "city": "Ypres"}
    assert rows[1]["name"] == "customer 1"  # the original is untouched


def test_rename_by_keyword_id_and_name(crm, json_server):
    crm.rename("customers", id=1, name="Ada NV")
    crm.rename("customers", 2, "Bob BV")

    rows = by_id(json_server)
    assert rows[1] == {"id": 1, "name": "Ada NV", "city": "Ghent"} and rows[2]["name"] == "Bob BV"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda crm: crm.get("customers"), "get needs the record's id: pass it after the object name or as id="),
        (lambda crm: crm.delete("customers", 1, id=2), "delete got two ids, 1 and 2 (id=); pass one"),
        (
            lambda crm: crm.update("customers", {"city": "Mons"}),
            "update needs the record's id: pass it after the object name or as 'id' in the record",
        ),
        (
            lambda crm: crm.update("customers", 1, {"id": 2, "city": "Mons"}),
            "update got two ids, 1 and 2 ('id' in the record); pass one",
        ),
        (
            lambda crm: crm.rename("customers", id=1),
            "rename needs the record's new name: pass it after the object name or as name=",
        ),
        (lambda crm: crm.copy("customers", 1, id=3), "copy got two ids, 1 and 3 (id=); pass one"),
        (
            lambda crm: crm.add("customers"),
            "add needs a record: add('customers', {...}) or add('customers', field=value, ...)",
        ),
    ],
    ids=[
        "get_no_id",
        "delete_two_ids",
        "update_no_id",
        "update_two_ids",
        "rename_no_name",
        "copy_two_ids",
        "add_nothing",
    ],
)
def test_wrong_call_shapes_are_refused_before_any_request(crm, json_server, call, message):
    with pytest.raises(RestCallError) as refused:
        call(crm)

    assert str(refused.value) == f"connection 'crm', object 'customers': {message}"
    again = pickle.loads(pickle.dumps(refused.value))
    assert (again.connection, again.obj, str(again)) == ("crm", "customers", str(refused.value))
    assert [
        line
        for method, path in (
            ("GET", "customers/"),
            ("PATCH", "customers"),
            ("POST", "customers"),
            ("DELETE", "customers"),
        )
        for line in sent(json_server, method, path)
    ] == []
    assert by_id(json_server)[1] == {"id": 1, "name": "customer 1", "city": "Ghent"}


def test_findone_returns_the_first_record_the_app_filters_or_none(crm, json_server):
    third = {"id": 3, "name": "customer 3", "city": "Ghent"}
    assert crm.findone("customers", searchfield="name", searchterm="customer 3") == third
    assert crm.findone("customers", searchfield="city", searchterm="Ghent")["id"] == 1
    assert crm.findone("customers", searchfield="name", searchterm="nobody") is None
    assert [line.split()[1] for line in sent(json_server, "GET", "customers?name")] == [
        "/customers?name=customer+3",
        "/customers?name=nobody",
    ]  # the app filters, not the client


def test_upsert_updates_the_record_found_and_adds_one_when_none_is(crm, json_server):
    updated = crm.upsert("customers", {"city": "Mons"}, searchfield="name", searchterm="customer 3")
    added = crm.upsert("customers", {"name": "Ada", "city": "Leuven"}, searchfield="name", searchterm="Ada")

    rows = by_id(json_server)
    assert updated == rows[3] == {"id": 3, "name": "customer 3", "city": "Mons"}  # PATCH keeps the name
    assert added["id"] not in range(1, 6) and rows[added["id"]] == {"id": added["id"], "name": "Ada", "city": "Leuven"}
    assert len(rows) == 6
    assert len(sent(json_server, "POST", "customers")) == 1 and len(sent(json_server, "PATCH", "customers/3")) == 1


def test_copy_of_a_record_that_is_not_there_adds_nothing(crm, json_server):
    with pytest.raises(RestCallError, match=r"^connection 'crm', object 'customers': copy: there is no record 99 "):
        crm.copy("customers", 99)
    assert sorted(by_id(json_server)) == [1, 2, 3, 4, 5] and sent(json_server, "POST", "customers") == []


def test_rename_sets_another_name_field_when_told(crm, json_server):
    renamed = crm.rename("customers", 2, "Bruges", name_field="city")
    assert renamed == by_id(json_server)[2] == {"id": 2, "name": "customer 2", "city": "Bruges"}


def test_apicall_sends_any_method_path_body_and_query(crm, json_server):
    assert crm.apicall("customers/2") == {"id": 2, "name": "customer 2", "city": "Ghent"}
    newest = crm.apicall("customers", "get", {}, city="Ghent", _sort="id", _order="desc", _limit=2)  # Peliqan's form
    assert newest == [{"id": i, "name": f"customer {i}", "city": "Ghent"} for i in (5, 4)]
    created = crm.apicall("/customers", method="post", body={"name": "Ada", "city": "Leuven"})
    assert crm.apicall(f"customers/{created['id']}", "PUT", {"name": "Ada NV", "city": "Leuven"})["name"] == "Ada NV"
    assert crm.apicall("customers/1", method="DELETE") == {}

    rows = by_id(json_server)
    assert sorted(rows) == [2, 3, 4, 5, created["id"]] and rows[created["id"]]["name"] == "Ada NV"


def test_apicall_failure_names_the_call_and_the_status(crm):
    with pytest.raises(SourceError, match=r"^connection 'crm', object 'customers/99': GET .*/customers/99 -> HTTP 404"):
        crm.apicall("customers/99")


@pytest.fixture
def whole_db(json_server):  # noqa: F811
    """json-server's ``/db`` answers ``{"customers": [...]}``: a record list under a key."""
    objects = {
        "everything": {"path": "/db", "records": "customers"},
        "orders": {"path": "/db", "records": "orders.open"},
    }
    with connect("crm", specs={"crm": {"type": "rest", "base_url": json_server.url, "objects": objects}}) as connection:
        yield connection


def test_list_reads_the_record_list_at_the_objects_records_path(whole_db):
    assert [r["id"] for r in whole_db.list("everything")] == [1, 2, 3, 4, 5]
    assert whole_db.findone("everything", searchfield="ignored", searchterm="x")["id"] == 1  # /db ignores filters


def test_list_without_a_record_list_at_the_path_names_the_object_and_the_fix(whole_db):
    with pytest.raises(SourceError) as missing:
        whole_db.list("orders")
    assert str(missing.value) == (
        "connection 'crm', object 'orders': the answer of GET /db has no record list at "
        "'orders.open'; fix records in the object's config"
    )
    assert pickle.loads(pickle.dumps(missing.value)).obj == "object 'orders'"
