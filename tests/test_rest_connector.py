"""The REST connector against a real HTTP server: pagination styles, retries, auth, errors.

The tests assert the requests the server received, not only the rows.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import pyarrow as pa
import pytest
from pydiverse.pipedag import Flow, Stage
from werkzeug import Request, Response

from stagehouse.connectors import ConnectionConfigError, RestError, SourceError, connect
from stagehouse.flows import run_flow
from stagehouse.tasks import sql_transform, sync
from tests.json_server import json_server  # noqa: F401  (fixture)
from tests.rest_server import OrdersApi, make_orders

OBJECTS = {
    "page": {"path": "/page", "records": "data", "pagination": {"style": "page", "size": 10}},
    "page_total": {
        "path": "/page_total",
        "records": "data",
        "pagination": {"style": "page", "size": 10, "total_path": "meta.total"},
    },
    "offset": {"path": "/offset", "records": "items", "pagination": {"style": "offset", "limit": 10}},
    "next_link": {
        "path": "/next_link",
        "records": "data",
        "pagination": {"style": "next_link", "next_path": "links.next"},
    },
    "link_header": {"path": "/link_header", "pagination": {"style": "link_header"}},
    "cursor": {
        "path": "/cursor",
        "records": "results",
        "pagination": {"style": "cursor", "cursor_path": "next_cursor"},
    },
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


def test_records_of_mixed_types_are_named_with_their_page_record_and_field(httpserver):
    records = [{"id": 1, "score": 3}, {"id": 2, "score": None}, {"id": 3, "score": "abc"}]
    httpserver.expect_request("/mixed").respond_with_json(records)
    conn = rest(httpserver, objects={"mixed": {"path": "/mixed"}})
    with pytest.raises(SourceError) as refused:
        conn.read("mixed").read_all()
    assert str(refused.value).endswith(
        "object 'mixed': page 1: record 3, field 'score': 'abc' is text where record 1 has a number; fix the record "
        "in the app, or declare types: {score: string} on the object to read it as text"
    )
    declared = rest(httpserver, objects={"mixed": {"path": "/mixed", "types": {"score": "string"}}})
    assert declared.read("mixed").read_all().column("score").to_pylist() == ["3", None, "abc"]


def json_server_customers(server, count: int) -> None:
    """Give json-server's ``customers`` ``count`` records in all, each with an ``updated_at``,
    through the app's own API."""
    with httpx.Client(base_url=server.url) as client:
        for i in range(1, 6):
            client.patch(f"/customers/{i}", json={"updated_at": f"2024-01-01T00:00:{i:02d}"}).raise_for_status()
        for i in range(6, count + 1):
            record = {"id": i, "name": f"customer {i}", "city": "Ghent", "updated_at": f"2024-01-01T00:00:{i:02d}"}
            client.post("/customers", json=record).raise_for_status()


JSON_SERVER_PAGES = {
    "style": "page",
    "page_param": "_page",
    "size_param": "_limit",
    "size": 5,
    "total_header": "X-Total-Count",
}


def test_header_total_fetches_pages_concurrently_at_json_server(json_server):
    json_server_customers(json_server, 25)
    before = len(json_server.requests("GET", "customers"))
    spec = {
        "type": "rest",
        "base_url": json_server.url,
        "concurrency": 3,
        "objects": {"customers": {"path": "/customers", "pagination": JSON_SERVER_PAGES}},
    }
    table = connect("crm", specs={"crm": spec}).read("customers").read_all()
    assert sorted(table.column("id").to_pylist()) == list(range(1, 26))  # every record once
    lines = json_server.logged("GET", "customers", before + 5)[before:]
    pages = sorted(int(httpx.URL(line.split()[1]).params["_page"]) for line in lines)
    # 5 full pages: without the total a sequential walk asks for an empty 6th to find the end
    assert pages == [1, 2, 3, 4, 5]


def test_content_range_total_and_one_total_source(httpserver):
    rows = [{"id": i} for i in range(1, 26)]

    def handler(request):
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        chunk = rows[offset : offset + limit]
        headers = {"Content-Range": f"items {offset}-{offset + len(chunk) - 1}/{len(rows)}"}
        return Response(json.dumps(chunk), headers=headers, content_type="application/json")

    httpserver.expect_request("/ranged").respond_with_handler(handler)
    pagination = {"style": "offset", "limit": 10, "total_header": "Content-Range"}
    conn = rest(httpserver, concurrency=2, objects={"ranged": {"path": "/ranged", "pagination": pagination}})
    assert conn.read("ranged").read_all().column("id").to_pylist() == list(range(1, 26))
    assert sorted(int(r.args["offset"]) for r in requests_to(httpserver, "/ranged")) == [0, 10, 20]
    with pytest.raises(
        ConnectionConfigError, match=r"field 'objects.ranged.pagination.offset'.*total_path .* or total_header"
    ):
        rest(
            httpserver,
            objects={"ranged": {"path": "/ranged", "pagination": {**pagination, "total_path": "meta.total"}}},
        )


@sql_transform(primary_key="id")
def ghent_customers(customers):
    return f"SELECT id, name FROM {customers} WHERE city = 'Ghent'"


def customers_flow(mode: str = "merge") -> Flow:
    with Flow("crm_sync") as flow:
        with Stage("raw"):
            customers = sync(
                "crm", "customers", mode=mode, cursor="updated_at", primary_key="id" if mode == "merge" else None
            )
        with Stage("mart"):
            ghent_customers(customers)
    return flow


def states(report) -> dict[str, str]:
    return {outcome.task: outcome.state for outcome in report.tasks}


def incremental_customers(project, json_server) -> None:
    """Five json-server customers, one a second, as object ``customers`` of connection ``crm``,
    filtered by ``updated_at_gte`` (inclusive)."""
    json_server_customers(json_server, 5)
    customers = {
        "path": "/customers",
        "primary_key": ["id"],
        "pagination": JSON_SERVER_PAGES,
        "incremental": {"param": "updated_at_gte"},
    }
    project.add_connection("crm", {"type": "rest", "base_url": json_server.url, "objects": {"customers": customers}})


@pytest.mark.parametrize("mode", ["merge", "incremental"])
def test_unchanged_api_keeps_sync_and_downstream_cache_valid(project, json_server, mode):
    incremental_customers(project, json_server)
    first = run_flow(customers_flow(mode))
    assert first.ok, first.error

    before = len(json_server.requests("GET", "customers"))
    second = run_flow(customers_flow(mode))
    assert second.ok, second.error
    assert set(states(second).values()) == {"CACHE_VALID"}, states(second)
    time.sleep(0.3)  # the server logs a little after it answers
    [probe] = json_server.requests("GET", "customers")[before:]  # exactly one request, one record asked
    assert "updated_at_gte=2024-01-01T00%3A00%3A05" in probe or "updated_at_gte=2024-01-01T00:00:05" in probe
    assert "_limit=1" in probe

    change = {"city": "Oslo", "updated_at": "2024-01-02T00:00:00"}
    if mode == "merge":  # record 2 moves to Oslo
        httpx.patch(f"{json_server.url}/customers/2", json=change).raise_for_status()
    else:  # a new record, in Ghent
        httpx.post(
            f"{json_server.url}/customers", json={**change, "id": 6, "name": "customer 6", "city": "Ghent"}
        ).raise_for_status()
    third = run_flow(customers_flow(mode))
    assert third.ok, third.error
    assert all(state != "CACHE_VALID" for state in states(third).values()), states(third)
    expected = [1, 3, 4, 5] if mode == "merge" else [1, 2, 3, 4, 5, 6]
    assert sorted(r["id"] for r in project.read("mart", "ghent_customers")) == expected
    assert len(project.read("raw", "customers")) == (5 if mode == "merge" else 6)

    fourth = run_flow(customers_flow(mode))  # the changed record is now the mark: unchanged again
    assert set(states(fourth).values()) == {"CACHE_VALID"}, states(fourth)


def test_a_record_arriving_at_the_mark_after_a_sync_is_appended_once(project, json_server):
    """APIs time records to the second: a record saved after a sync, in the same second as the last
    one synced, sits at the mark. An inclusive filter (updated_at_gte) hands it over on the next
    run; it is appended, and the record read before at the mark is not appended twice."""
    incremental_customers(project, json_server)
    assert (first := run_flow(customers_flow("incremental"))).ok, first.error
    tie = {"id": 7, "name": "customer 7", "city": "Ghent", "updated_at": "2024-01-01T00:00:05"}  # customer 5's
    httpx.post(f"{json_server.url}/customers", json=tie).raise_for_status()

    assert (second := run_flow(customers_flow("incremental"))).ok, second.error
    assert sorted(r["id"] for r in project.read("raw", "customers")) == [1, 2, 3, 4, 5, 7]
    third = run_flow(customers_flow("incremental"))
    assert set(states(third).values()) == {"CACHE_VALID"}, states(third)


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_full_sync_reruns_when_its_freshness_request_answers_differently(project, json_server):
    count = {"path": "/customers", "params": {"_limit": 1}, "header": "X-Total-Count"}
    customers = {"path": "/customers", "primary_key": ["id"], "freshness": count}
    project.add_connection("crm", {"type": "rest", "base_url": json_server.url, "objects": {"customers": customers}})
    assert run_flow(customers_flow("full")).ok
    assert set(states(run_flow(customers_flow("full"))).values()) == {"CACHE_VALID"}
    httpx.post(f"{json_server.url}/customers", json={"id": 6, "name": "customer 6", "city": "Ghent"}).raise_for_status()
    third = run_flow(customers_flow("full"))
    assert "CACHE_VALID" not in states(third).values(), states(third)
    assert len(project.read("mart", "ghent_customers")) == 6


def test_freshness_without_an_answer_field_fails_at_config_load(httpserver):
    with pytest.raises(ConnectionConfigError, match=r"field 'objects.c.freshness': .*give value .* or header"):
        rest(httpserver, objects={"c": {"path": "/c", "freshness": {"path": "/c/count"}}})


def typed_customers_flow() -> Flow:
    with Flow("crm_types") as flow:
        with Stage("raw"):
            sync("crm", "customers", mode="merge", cursor="updated_at", primary_key="id")
            sync("crm", "customers_text", name="customers_text")
    return flow


TIMESTAMP_TYPES = {  # what each store's catalog calls an Arrow timestamp, with and without time zone
    "postgres": {"tz": "timestamp with time zone", "naive": "timestamp without time zone", "text": "text"},
    "local": {"tz": "TIMESTAMP WITH TIME ZONE", "naive": "TIMESTAMP", "text": "VARCHAR"},
}


def test_iso_timestamps_from_json_server_land_as_timestamps(project, json_server):
    """json-server's ``updated_at`` text with ``Z`` lands as timestamp with time zone, offset-free
    text as timestamp without, a bare date stays text; ``types: {updated_at: string}`` keeps it
    text. A later batch whose value is not a timestamp fails the merge, naming field and value,
    and the committed table stays."""
    from tests.test_sql_sources import store_types

    with httpx.Client(base_url=json_server.url) as client:
        for i in range(1, 6):
            client.patch(
                f"/customers/{i}",
                json={
                    "updated_at": f"2024-01-0{i}T10:00:00.{i}23Z",
                    "seen_at": f"2024-01-0{i} 08:30:00",
                    "born": f"1990-01-0{i}",
                },
            ).raise_for_status()
    customers = {
        "path": "/customers",
        "primary_key": ["id"],
        "pagination": JSON_SERVER_PAGES,
        "incremental": {"param": "updated_at_gte"},
    }
    objects = {"customers": customers, "customers_text": {"path": "/customers", "types": {"updated_at": "string"}}}
    project.add_connection("crm", {"type": "rest", "base_url": json_server.url, "objects": objects})
    assert (report := run_flow(typed_customers_flow())).ok, report.error

    expected = TIMESTAMP_TYPES[project.instance]
    kept = store_types(project, "raw", "customers")
    assert (kept["updated_at"], kept["seen_at"], kept["born"]) == (
        expected["tz"],
        expected["naive"],
        expected["text"],
    ), kept
    assert store_types(project, "raw", "customers_text")["updated_at"] == expected["text"]
    first = {row["id"]: row for row in project.read("raw", "customers")}[1]["updated_at"]
    assert first.astimezone(dt.UTC) == dt.datetime(2024, 1, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)

    httpx.patch(
        f"{json_server.url}/customers/2", json={"city": "Oslo", "updated_at": "2024-02-01T00:00:00+01:00"}
    ).raise_for_status()
    assert (report := run_flow(typed_customers_flow())).ok, report.error
    assert {row["id"]: row["city"] for row in project.read("raw", "customers")}[2] == "Oslo"
    assert store_types(project, "raw", "customers")["updated_at"] == expected["tz"]

    httpx.patch(
        f"{json_server.url}/customers/3", json={"city": "Rome", "updated_at": "soon"}
    ).raise_for_status()  # 'soon' > '2024-…'
    report = run_flow(typed_customers_flow())
    assert not report.ok
    assert "updated_at" in str(report.error) and "'soon'" in str(report.error), report.error
    assert {row["id"]: row["city"] for row in project.read("raw", "customers")}[
        3
    ] == "Ghent"  # committed rows unchanged


def test_timestamp_detection_is_configurable(httpserver):
    rows = [
        {"id": 1, "at": "2024-01-01T00:00:00Z", "local": "2024-01-01T00:00:00"},
        {"id": 2, "at": "2024-06-01T12:30:00.5+02:00", "local": None},
    ]
    httpserver.expect_request("/things").respond_with_json(rows)
    conn = rest(
        httpserver,
        objects={
            "things": {"path": "/things"},
            "off": {"path": "/things", "detect_timestamps": False},
            "mixed": {"path": "/things", "types": {"at": "string"}},
        },
    )
    schema = conn.read("things").schema
    assert schema.field("at").type == pa.timestamp("us", tz="UTC") and schema.field("local").type == pa.timestamp("us")
    assert conn.read("off").schema.field("at").type == pa.string()
    assert conn.read("mixed").read_all().column("at").to_pylist() == [
        "2024-01-01T00:00:00Z",
        "2024-06-01T12:30:00.5+02:00",
    ]
    assert conn.read("mixed").schema.field("local").type == pa.timestamp("us")


def test_malformed_json_names_connection_object_page_and_url(httpserver, monkeypatch):
    """Page 2 of a next_link object is cut off mid-record: the error names the page, its URL
    (the API key masked) and where the JSON breaks, not only a character offset."""
    monkeypatch.setenv("SHOP_KEY", "k-secret")

    def respond(request: Request) -> Response:
        if request.args.get("start") == "10":
            return Response('{"data": [{"id": 2}, {"id": 3,', content_type="application/json")
        return Response(
            json.dumps({"data": [{"id": 1}], "links": {"next": "/broken?start=10"}}), content_type="application/json"
        )

    httpserver.expect_request("/broken").respond_with_handler(respond)
    conn = rest(
        httpserver,
        auth={"type": "api_key", "name": "api_key", "value": "{$SHOP_KEY}", "location": "query"},
        objects={
            "broken": {
                "path": "/broken",
                "records": "data",
                "pagination": {"style": "next_link", "next_path": "links.next"},
            }
        },
    )
    with pytest.raises(SourceError) as err:
        conn.read("broken").read_all()
    assert str(err.value) == (
        "connection 'shop_api', object 'broken': page 2, GET "
        f"{httpserver.url_for('/broken')}?api_key=%2A%2A%2A&start=10: "
        "the body (30 bytes) is not valid JSON: Expecting property name enclosed in double quotes at line 1, column "
        "31, "
        """near '{"data": [{"id": 2}, {"id": 3,'"""
    )
