"""What a fetched page's body becomes: Arrow data, Python objects when Arrow cannot read it, or
an error that says where the body stops being JSON."""

from __future__ import annotations

import pickle

import httpx
import pyarrow as pa
import pytest

from stagehouse.connectors.rest.page import Page, PageNotJson, SchemaHint

URL = "https://api.example.com/contacts?page=3"


def response(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, request=httpx.Request("GET", URL))


def test_a_body_that_is_not_json_names_the_url_line_column_and_text_there():
    with pytest.raises(PageNotJson) as broken:
        Page.parse(response(b'{"data": [{"id": 1},\n {"id": 2,}]}'))
    assert broken.value.url == URL
    assert broken.value.problem.startswith("the body (34 bytes) is not valid JSON: ")
    assert "at line 2, column 11, near" in broken.value.problem
    again = pickle.loads(pickle.dumps(broken.value))
    assert (again.url, again.problem, str(again)) == (broken.value.url, broken.value.problem, str(broken.value))


def test_iso_timestamps_stay_text_with_their_offset():
    page = Page.parse(response(b'[{"id": 1, "at": "2026-11-28T10:30:00+01:00"}]'))
    records = page.records_array(None)
    assert pa.types.is_string(records.type.field("at").type)
    assert records.to_pylist() == [{"id": 1, "at": "2026-11-28T10:30:00+01:00"}]


def test_a_schema_hint_carries_the_first_pages_types_to_the_next():
    hint = SchemaHint()
    Page.parse(response(b'{"data": [{"id": 1, "score": 1.5}]}'), hint)
    assert hint.schema is not None
    later = Page.parse(response(b'{"data": [{"id": 2, "score": 2}]}'), hint)
    assert later.records_array("data").to_pylist() == [{"id": 2, "score": 2.0}]  # read as the first page's double
