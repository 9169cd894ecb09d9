"""A real HTTP API for the REST connector tests (pytest-httpserver), serving ``orders`` in every
pagination style, with 429/500/slow behaviours on demand."""

from __future__ import annotations

import json
import time

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PAGE = 10


def make_orders(count: int) -> list[dict]:
    return [
        {
            "id": i,
            "total": i * 1.5,
            "updated_at": f"2024-01-{1 + i % 28:02d}T00:00:{i % 60:02d}",
            "customer": {"name": f"c{i % 7}", "address": {"city": "Oslo" if i % 2 else "Rome"}},
            "tags": ["a", "b"] if i % 3 == 0 else [],
        }
        for i in range(1, count + 1)
    ]


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


class OrdersApi:
    """Routes on ``server`` for ``orders``; ``records`` can be replaced between runs."""

    def __init__(self, server: HTTPServer, records: list[dict]) -> None:
        self.server = server
        self.records = records
        self.failures: list[tuple[int, dict]] = []  # responses to give before serving for real
        for path, handler in {
            "/page": self.page,
            "/page_total": self.page_total,
            "/offset": self.offset,
            "/next_link": self.next_link,
            "/link_header": self.link_header,
            "/cursor": self.cursor,
            "/single": self.single,
            "/slow": self.slow,
        }.items():
            server.expect_request(path).respond_with_handler(self._with_failures(handler))

    def _with_failures(self, handler):
        def respond(request: Request) -> Response:
            if self.failures:
                status, headers = self.failures.pop(0)
                return _json({"error": "try later"}, status, headers)
            return handler(request)

        return respond

    def visible(self, request: Request) -> list[dict]:
        since = request.args.get("updated_since")
        return [r for r in self.records if since is None or r["updated_at"] >= since]

    def page(self, request: Request) -> Response:
        page, size = int(request.args["page"]), int(request.args.get("per_page", PAGE))
        rows = self.visible(request)
        return _json({"data": rows[(page - 1) * size : page * size]})

    def page_total(self, request: Request) -> Response:
        page, size = int(request.args["page"]), int(request.args.get("per_page", PAGE))
        rows = self.visible(request)
        return _json({"data": rows[(page - 1) * size : page * size], "meta": {"total": len(rows)}})

    def offset(self, request: Request) -> Response:
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        return _json({"items": self.visible(request)[offset : offset + limit]})

    def next_link(self, request: Request) -> Response:
        start = int(request.args.get("start", 0))
        rows = self.visible(request)
        more = start + PAGE < len(rows)
        return _json(
            {
                "data": rows[start : start + PAGE],
                "links": {"next": f"/next_link?start={start + PAGE}" if more else None},
            }
        )

    def link_header(self, request: Request) -> Response:
        start = int(request.args.get("start", 0))
        rows = self.visible(request)
        headers = (
            {"Link": f'<{self.server.url_for("/link_header")}?start={start + PAGE}>; rel="next"'}
            if start + PAGE < len(rows)
            else {}
        )
        return _json(rows[start : start + PAGE], headers=headers)

    def cursor(self, request: Request) -> Response:
        start = int(request.args.get("cursor", "0"))
        rows = self.visible(request)
        token = str(start + PAGE) if start + PAGE < len(rows) else None
        return _json({"results": rows[start : start + PAGE], "next_cursor": token})

    def single(self, request: Request) -> Response:
        return _json(self.visible(request))

    def slow(self, request: Request) -> Response:
        if not getattr(self, "_slow_done", False):
            self._slow_done = True
            time.sleep(1.5)
        return _json(self.visible(request))
