"""The REST connector against a real HTTP server: pagination styles, retries, auth, errors.

The tests assert the requests the server received, not only the rows.
"""

from __future__ import annotations

import json
import time

import pytest
from pydiverse.pipedag import Flow, Stage
from werkzeug import Request, Response

from connectors import ConnectionConfigError, RestError, SourceError, connect
from flows import run_flow
from tasks import sync
from tests.rest_server import OrdersApi, make_orders

OBJECTS = {
    "page": {"path": "/page", "records": "data", "pagination": {"style": "page", "size": 10}},
    "page_total": {"path": "/page_total", "records": "data", "pagination": {"style": "page", "size": 10, "total_path": "meta.total"}},
    "offset": {"path": "/offset", "records": "items", "pagination": {"style": "offset", "limit": 10}},
    "next_link": {"path": "/next_link", "records": "data", "pagination": {"style": "next_link", "next_path": "links.next"}},
    "link_header": {"path": "/link_header", "pagination": {"style": "link_header"}},
    "cursor": {"path": "/cursor", "records": "results", "pagination": {"style": "cursor", "cursor_path": "next_cursor"}},
    "single": {"path": "/single", "primary_key": ["id"], "incremental": {"param": "updated_since"}},
    "nested_json": {"path": "/single", "nested": "json", "lists": "keep"},
    "slow": {"path": "/slow"},
}


@pytest.fixture
def api(httpserver):
    return OrdersApi(httpserver, make_orders(45))


def rest(httpserver, **overrides):
    spec = {
        "type": "rest",
        "base_url": httpserver.url_for("/"),
        "retry": {"backoff_seconds": 0.05, "max_attempts": 4},
        "objects": OBJECTS,
        **overrides,
    }
    return connect("shop_api", specs={"shop_api": spec})


def requests_to(httpserver, path: str) -> list:
    return [request for request, _ in httpserver.log if request.path == path]


@pytest.mark.parametrize("style", ["page", "page_total", "offset", "next_link", "link_header", "cursor"])
def test_every_pagination_style_reads_all_records_in_order(httpserver, api, style):
    table = rest(httpserver).read(style).read_all()
    assert table.column("id").to_pylist() == list(range(1, 46))
    expected_requests = {"page": 5, "page_total": 5, "offset": 5, "next_link": 5, "link_header": 5, "cursor": 5}[style]
    assert len(requests_to(httpserver, f"/{style}")) == expected_requests


def test_page_with_total_fetches_remaining_pages_concurrently(httpserver, api):
    rest(httpserver, concurrency=3).read("page_total").read_all()
    pages = sorted(int(r.args["page"]) for r in requests_to(httpserver, "/page_total"))
    assert pages == [1, 2, 3, 4, 5]


def test_nested_objects_flatten_and_lists_become_json(httpserver, api):
    table = rest(httpserver).read("single").read_all()
    assert {"customer__name", "customer__address__city", "tags"} <= set(table.column_names)
    row = table.slice(2, 1).to_pylist()[0]
    assert row["customer__address__city"] == "Oslo" and row["tags"] == '["a", "b"]'
    kept = rest(httpserver).read("nested_json").read_all()
    assert kept.column("customer").to_pylist()[0] == '{"name": "c1", "address": {"city": "Oslo"}}'
    assert kept.column("tags").to_pylist()[2] == ["a", "b"]


def test_429_with_retry_after_is_honoured(httpserver, api):
    api.failures = [(429, {"Retry-After": "1"})]
    started = time.perf_counter()
    assert rest(httpserver).read("single").read_all().num_rows == 45
    assert time.perf_counter() - started >= 1.0
    assert len(requests_to(httpserver, "/single")) == 2


def test_5xx_is_retried_with_backoff(httpserver, api):
    api.failures = [(500, {}), (503, {})]
    assert rest(httpserver).read("single").read_all().num_rows == 45
    assert len(requests_to(httpserver, "/single")) == 3


def test_slow_response_times_out_and_is_retried(httpserver, api):
    assert rest(httpserver, timeout_seconds=0.5).read("slow").read_all().num_rows == 45
    assert len(requests_to(httpserver, "/slow")) >= 2  # the test server answers one request at a time


def test_persistent_5xx_fails_naming_object_url_status_and_masking_key(httpserver, api, monkeypatch):
    monkeypatch.setenv("SHOP_KEY", "k-secret")
    api.failures = [(502, {})] * 10
    conn = rest(httpserver, auth={"type": "api_key", "name": "api_key", "value": "{$SHOP_KEY}", "location": "query"})
    with pytest.raises(RestError) as err:
        conn.read("single").read_all()
    message = str(err.value)
    assert "connection 'shop_api', object 'single'" in message and "HTTP 502" in message and "/single" in message
    assert "k-secret" not in message and "api_key=%2A%2A%2A" in message or "api_key=***" in message
    assert len(requests_to(httpserver, "/single")) == 4


def test_client_error_fails_at_once(httpserver, api):
    httpserver.expect_request("/missing").respond_with_json({"error": "no such thing"}, status=404)
    conn = rest(httpserver, objects={"missing": {"path": "/missing"}})
    with pytest.raises(RestError, match=r"HTTP 404: .*no such thing"):
        conn.read("missing").read_all()
    assert len(requests_to(httpserver, "/missing")) == 1


def test_bearer_auth_and_rate_limit(httpserver, api, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "t0k")
    conn = rest(httpserver, auth={"type": "bearer", "token": "{$SHOP_TOKEN}"}, rate_limit={"requests_per_second": 8})
    started = time.perf_counter()
    conn.read("page").read_all()
    assert time.perf_counter() - started >= 4 / 8  # 5 requests, at most 8 per second
    assert {r.headers["Authorization"] for r in requests_to(httpserver, "/page")} == {"Bearer t0k"}


def test_secret_written_in_file_and_unknown_object_are_refused(httpserver, api):
    with pytest.raises(ConnectionConfigError, match=r"field 'auth.bearer.token'"):
        rest(httpserver, auth={"type": "bearer", "token": "plain-secret"})
    with pytest.raises(ConnectionConfigError, match=r"no object 'nope' .*known: page"):
        rest(httpserver).read("nope")


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_merge_sync_asks_api_only_for_changes(project, httpserver, api):
    project.add_connection(
        "shop_api", {"type": "rest", "base_url": httpserver.url_for("/"), "objects": {"orders": OBJECTS["single"]}}
    )

    def build():
        with Flow("api_sync") as flow:
            with Stage("raw"):
                sync("shop_api", "orders", mode="merge", cursor="updated_at")
        return flow

    assert run_flow(build()).ok
    last = max(r["updated_at"] for r in api.records)
    api.records = [*api.records[:44], {**api.records[44], "total": -1.0, "updated_at": "2024-02-01T00:00:00"}]
    second = run_flow(build())
    assert second.ok, second.error
    assert requests_to(httpserver, "/single")[-1].args["updated_since"] == last
    stored = {r["id"]: r for r in project.read("raw", "orders")}
    assert len(stored) == 45 and stored[45]["total"] == -1.0


def test_records_of_mixed_types_are_named_with_their_page(httpserver):
    httpserver.expect_request("/mixed").respond_with_json([{"id": 1}, {"id": "one"}])
    conn = rest(httpserver, objects={"mixed": {"path": "/mixed"}})
    with pytest.raises(SourceError, match=r"object 'mixed'.*page 1"):
        conn.read("mixed").read_all()


def test_malformed_json_names_connection_object_page_and_url(httpserver, monkeypatch):
    """Page 2 of a next_link object is cut off mid-record: the error names the page, its URL
    (the API key masked) and where the JSON breaks, not only a character offset."""
    monkeypatch.setenv("SHOP_KEY", "k-secret")
    def respond(request: Request) -> Response:
        if request.args.get("start") == "10":
            return Response('{"data": [{"id": 2}, {"id": 3,', content_type="application/json")
        return Response(json.dumps({"data": [{"id": 1}], "links": {"next": "/broken?start=10"}}), content_type="application/json")

    httpserver.expect_request("/broken").respond_with_handler(respond)
    conn = rest(
        httpserver,
        auth={"type": "api_key", "name": "api_key", "value": "{$SHOP_KEY}", "location": "query"},
        objects={"broken": {"path": "/broken", "records": "data", "pagination": {"style": "next_link", "next_path": "links.next"}}},
    )
    with pytest.raises(SourceError) as err:
        conn.read("broken").read_all()
    assert str(err.value) == (
        f"connection 'shop_api', object 'broken': page 2, GET {httpserver.url_for('/broken')}?api_key=%2A%2A%2A&start=10: "
        "the body (30 bytes) is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 31, "
        """near '{"data": [{"id": 2}, {"id": 3,'"""
    )
