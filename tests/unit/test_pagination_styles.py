"""Each REST pagination style, driven by response data alone (no server): what it asks for next,
and when it stops."""

from __future__ import annotations

import typing
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from stagehouse.connectors.rest.config import Pagination, RestObject
from stagehouse.connectors.rest.page import Page
from stagehouse.connectors.rest.pagination import (
    PAGINATORS,
    CursorPaginator,
    LinkHeaderPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Request,
    SinglePagePaginator,
    header_total,
    pages,
    paginator_for,
)

API = "https://api.example.com/v2"


def page(body: Any, url: str = f"{API}/contacts", headers: dict[str, str] | None = None) -> Page:
    """A parsed page of an API's answer: ``body`` as JSON with ``headers``, fetched from ``url``."""
    return Page.parse(httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url)))


def style(**config: Any):
    return paginator_for(TypeAdapter(Pagination).validate_python(config))


def records(n: int, start: int = 0) -> list[dict]:
    return [{"id": i} for i in range(start, start + n)]


def test_every_configurable_style_has_one_paginator_class():
    models = typing.get_args(typing.get_args(Pagination)[0])
    styles = {typing.get_args(model.model_fields["style"].annotation)[0] for model in models}
    assert styles == set(PAGINATORS)
    assert {name: type(style(style=name)).__name__ for name in ("none", "link_header")} == {
        "none": SinglePagePaginator.__name__,
        "link_header": LinkHeaderPaginator.__name__,
    }


def test_each_read_gets_a_fresh_paginator():
    config = TypeAdapter(Pagination).validate_python({"style": "cursor"})
    first, second = paginator_for(config), paginator_for(config)
    first.update_state(page({"next_cursor": None, "data": []}), records=0)
    assert not first.has_next_page and second.has_next_page


def test_no_pagination_reads_one_page():
    paginator = style(style="none")
    assert paginator.first_request(Request("/contacts", {"q": "a"})) == Request("/contacts", {"q": "a"})
    paginator.update_state(page(records(100)), records=100)
    assert not paginator.has_next_page


def test_next_link_follows_a_relative_link_against_the_page_url_and_drops_the_query_params():
    paginator = style(style="next_link", next_path="links.next")
    assert isinstance(paginator, NextLinkPaginator)
    paginator.update_state(page({"data": records(2), "links": {"next": "contacts?start=2"}}), records=2)
    assert paginator.has_next_page
    assert paginator.update_request(Request("/contacts", {"q": "a"})) == Request(f"{API}/contacts?start=2", None)


@pytest.mark.parametrize(
    "body",
    [{"data": [], "links": {"next": None}}, {"data": []}, {"data": [], "links": None}],
    ids=["null", "absent", "parent_null"],
)
def test_next_link_stops_when_the_link_is_null_or_absent(body):
    paginator = style(style="next_link", next_path="links.next")
    paginator.update_state(page(body), records=0)
    assert not paginator.has_next_page


def test_next_link_reads_the_same_link_from_a_body_arrow_cannot_parse():
    mixed = {"data": [{"id": 1}, {"id": "two"}], "links": {"next": f"{API}/contacts?start=2"}}  # an id of two types
    paginator = style(style="next_link", next_path="links.next")
    paginator.update_state(page(mixed), records=2)
    assert paginator.update_request(Request("/contacts")).url == f"{API}/contacts?start=2"


def test_link_header_follows_rel_next_and_stops_without_it():
    paginator = style(style="link_header")
    link = f'<{API}/contacts?page=2>; rel="next", <{API}/contacts?page=9>; rel="last"'
    paginator.update_state(page(records(2), headers={"Link": link}), records=2)
    assert paginator.has_next_page and paginator.update_request(Request("/contacts")).url == f"{API}/contacts?page=2"
    paginator.update_state(page(records(2), headers={"Link": f'<{API}/contacts?page=1>; rel="first"'}), records=2)
    assert not paginator.has_next_page


def test_cursor_sends_the_token_back_beside_the_other_params():
    paginator = style(style="cursor", cursor_param="after", cursor_path="meta.next")
    assert isinstance(paginator, CursorPaginator)
    paginator.update_state(page({"data": records(3), "meta": {"next": "abc"}}), records=3)
    request = paginator.update_request(Request("/contacts", {"updated_since": "2026-01-01"}))
    assert request == Request("/contacts", {"updated_since": "2026-01-01", "after": "abc"})
    paginator.update_state(page({"data": records(3), "meta": {"next": "def"}}), records=3)
    assert paginator.update_request(request).params == {"updated_since": "2026-01-01", "after": "def"}


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"data": records(3), "meta": {"next": None}}, 3),
        ({"data": records(3), "meta": {}}, 3),
        ({"data": records(3), "meta": {"next": ""}}, 3),
        ({"data": [], "meta": {"next": "abc"}}, 0),
    ],
    ids=["null_cursor", "no_cursor", "empty_cursor", "empty_page"],
)
def test_cursor_stops_when_the_cursor_is_null_or_the_page_is_empty(body, count):
    paginator = style(style="cursor", cursor_path="meta.next")
    paginator.update_state(page(body), records=count)
    assert not paginator.has_next_page


def test_page_numbers_with_a_body_total_know_every_page_after_the_first():
    paginator = style(style="page", size=10, total_path="meta.total")
    assert isinstance(paginator, PageNumberPaginator)
    first = paginator.first_request(Request("/contacts", {"q": "a"}))
    assert first == Request("/contacts", {"q": "a", "page": 1, "per_page": 10})
    paginator.update_state(page({"data": records(10), "meta": {"total": 35}}), records=10)
    assert [r.params for r in paginator.requests_ahead(first)] == [
        {"q": "a", "page": n, "per_page": 10} for n in (2, 3, 4)
    ]


@pytest.mark.parametrize(("header", "ahead"), [("35", 3), ("items 0-9/35", 3), ("items 0-9/*", None), ("10", 0)])
def test_page_numbers_read_the_total_from_a_count_or_content_range_header(header, ahead):
    paginator = style(style="page", size=10, total_header="X-Total")
    first = paginator.first_request(Request("/contacts", {}))
    paginator.update_state(page(records(10), headers={"X-Total": header}), records=10)
    found = paginator.requests_ahead(first)
    assert (None if found is None else len(found)) == ahead


def test_page_numbers_prefer_the_page_count_the_api_gives():
    paginator = style(
        style="page", size=10, total_path="meta.total", pages_path="meta.pages", first_page=0, size_param=None
    )
    first = paginator.first_request(Request("/contacts", {}))
    assert first.params == {"page": 0}
    paginator.update_state(page({"data": records(10), "meta": {"total": 35, "pages": 2}}), records=10)
    assert [r.params for r in paginator.requests_ahead(first)] == [{"page": 1}]


def test_page_numbers_without_a_total_stop_at_the_first_short_page():
    paginator = style(style="page", page_param="p", size_param="n", size=2)
    request = paginator.first_request(Request("/contacts", {}))
    paginator.update_state(page(records(2)), records=2)
    assert paginator.requests_ahead(request) is None and paginator.has_next_page
    request = paginator.update_request(request)
    assert request.params == {"p": 2, "n": 2}
    paginator.update_state(page(records(1)), records=1)
    assert not paginator.has_next_page


def test_offsets_step_by_the_limit():
    paginator = style(style="offset", offset_param="skip", limit_param="take", limit=50)
    assert isinstance(paginator, OffsetPaginator)
    request = paginator.first_request(Request("/contacts", {}))
    assert request.params == {"skip": 0, "take": 50}
    paginator.update_state(page(records(50)), records=50)
    assert paginator.update_request(request).params == {"skip": 50, "take": 50}
    with_total = style(style="offset", limit=50, total_path="total")
    first = with_total.first_request(Request("/contacts", {}))
    with_total.update_state(page({"total": 120, "data": records(50)}), records=50)
    assert [r.params["offset"] for r in with_total.requests_ahead(first)] == [50, 100]


def test_header_total_is_none_when_the_header_is_absent_or_unknown():
    assert header_total(page([]), "X-Total-Count") is None
    assert header_total(page([], headers={"Content-Range": "items 0-9/*"}), "Content-Range") is None
    assert header_total(page([], headers={"Content-Range": "items 0-9/ 200 "}), "Content-Range") == 200


@pytest.mark.parametrize(
    ("config", "params"),
    [
        ({"style": "page", "size": 100}, {"page": 1, "per_page": 1}),
        ({"style": "page", "size": 100, "size_param": None}, {"page": 1}),
        ({"style": "offset"}, {"offset": 0, "limit": 1}),
        ({"style": "cursor"}, {}),
        ({"style": "none"}, {}),
    ],
)
def test_a_freshness_check_asks_for_one_record_where_the_style_can(config, params):
    assert style(**config).one_record_params() == params


def test_a_freshness_check_sees_more_records_from_the_total_the_next_link_or_a_full_page():
    def of_total(total: str) -> Page:
        return page(records(1), headers={"X-Total-Count": total})

    assert style(style="page", total_header="X-Total-Count").more_after_first(of_total("2"), 1)
    assert not style(style="page", total_header="X-Total-Count").more_after_first(of_total("1"), 1)
    assert style(style="offset").more_after_first(page(records(1)), 1)  # a full page of one: maybe more
    assert not style(style="page", size_param=None, size=100).more_after_first(page(records(1)), 1)
    assert style(style="next_link").more_after_first(page({"next": "/contacts?page=2", "data": records(1)}), 1)
    assert not style(style="none").more_after_first(page(records(1)), 1)


def serve(answers: dict[str, Any], fetched: list[tuple[str, dict | None]]):
    """A fetch over canned answers keyed by the request as ``url?k=v&…``, recording each request."""

    def fetch(url: str, params: dict[str, Any] | None) -> Page:
        fetched.append((url, params))
        key = url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        return page(answers[key], url=f"{API}{url}" if url.startswith("/") else url)

    return fetch


def test_pages_walks_a_cursor_until_its_end():
    fetched: list = []
    answers = {"/c?q=1": {"data": records(2), "next": "t1"}, "/c?q=1&cursor=t1": {"data": records(2, 2), "next": None}}
    obj = RestObject(path="/c", records="data", pagination={"style": "cursor", "cursor_path": "next"})
    walked = list(pages(serve(answers, fetched), obj, {"q": 1}, concurrency=2))
    assert [p.get("data.0.id") for p in walked] == [0, 2] and len(fetched) == 2


def test_pages_fetches_known_pages_concurrently_and_yields_them_in_order():
    fetched: list = []
    answers = {
        f"/c?page={n}&per_page=2": {"total": 7, "data": records(2 if n < 4 else 1, 2 * (n - 1))} for n in range(1, 5)
    }
    obj = RestObject(path="/c", records="data", pagination={"style": "page", "size": 2, "total_path": "total"})
    walked = list(pages(serve(answers, fetched), obj, {}, concurrency=2))
    assert [p.get("data.0.id") for p in walked] == [0, 2, 4, 6]
    assert sorted(params["page"] for _, params in fetched) == [1, 2, 3, 4]
