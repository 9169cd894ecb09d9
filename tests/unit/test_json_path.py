"""Dotted paths into an API's answer mean the same whether the body was parsed to Python objects
or to Arrow data."""

from __future__ import annotations

import httpx
import pytest

from stagehouse.connectors.json_path import dig
from stagehouse.connectors.rest.page import Page

BODY = {
    "meta": {"total": 3, "next": None, "cursor": {"token": "abc"}},
    "data": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}],
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("meta.total", 3),
        ("meta.cursor.token", "abc"),
        ("data.1.id", 2),
        ("data.0.tags.1", "b"),
        ("meta.next", None),  # a null
        ("meta.next.url", None),  # a step past a null
        ("meta.missing", None),  # a missing key
        ("data.2.id", None),  # an index past the end
        ("data.id", None),  # a name on a list
        ("meta.total.x", None),  # a step into a number
        ("data.-1.id", None),  # no negative indexes
    ],
)
def test_a_path_steps_into_objects_by_name_and_lists_by_number_and_missing_steps_give_none(path, value):
    assert dig(BODY, path) == value


def test_an_empty_path_is_the_whole_body():
    assert dig(BODY, None) is BODY and dig(BODY, "") is BODY


def _page(body: object) -> Page:
    return Page.parse(httpx.Response(200, json=body, request=httpx.Request("GET", "https://api.example.com/x")))


MIXED = {**BODY, "odd": [1, "one"]}  # a list of two types: Arrow cannot read it, Python parses the page


@pytest.mark.parametrize("body", [BODY, MIXED], ids=["arrow", "python"])
@pytest.mark.parametrize(
    "path",
    [
        "meta.total",
        "meta.cursor.token",
        "data.1.id",
        "data.0.tags.1",
        "meta.next",
        "meta.missing",
        "data.2.id",
        "data.id",
        "meta.total.x",
    ],
)
def test_a_page_reads_a_field_the_same_however_its_body_was_parsed(body, path):
    assert _page(body).get(path) == dig(BODY, path)


@pytest.mark.parametrize("body", [BODY, MIXED], ids=["arrow", "python"])
def test_a_page_finds_its_record_list_the_same_however_its_body_was_parsed(body):
    parsed = _page(body)
    assert parsed.record_count("data") == 2
    assert parsed.record_count("meta") == 0 and parsed.records_array("meta.total") is None  # not a list
    assert parsed.records_array("nothing.here") is None
    assert parsed.record_count("data.0.tags") == 2  # a list inside a list's element


def test_a_body_that_is_a_list_is_the_record_list():
    assert _page([{"id": 1}, {"id": 2}]).record_count(None) == 2
    assert _page([{"id": 1}, {"id": 2}]).get("1.id") == 2
