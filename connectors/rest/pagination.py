"""Walk an object's pages in each common pagination style, yielding parsed JSON bodies in order.

Styles whose pages are known in advance (page number or offset, with a total from the first
page) fetch the remaining pages concurrently, at most ``concurrency`` in flight, still yielded
in page order; the others follow the API's links or tokens one page at a time.

Example::

    for body in pages(fetch, obj_config, params, concurrency=4):
        records = dig(body, "data")
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from connectors.rest.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PagePagination,
    RestObject,
)

Fetch = Callable[[str, dict[str, Any] | None], httpx.Response]


def dig(body: Any, path: str | None) -> Any:
    """``body["a"]["b"]`` for path ``"a.b"``; None if any step is missing."""
    if not path:
        return body
    for step in path.split("."):
        if not isinstance(body, dict) or step not in body:
            return None
        body = body[step]
    return body


def pages(fetch: Fetch, obj: RestObject, params: dict[str, Any], concurrency: int) -> Iterator[Any]:
    """The JSON body of every page of ``obj``."""
    style = obj.pagination
    match style:
        case NextLinkPagination() | LinkHeaderPagination():
            yield from _following_links(fetch, obj, params)
        case CursorPagination():
            yield from _following_cursor(fetch, obj, params, style)
        case PagePagination() | OffsetPagination():
            yield from _numbered(fetch, obj, params, style, concurrency)
        case _:
            yield fetch(obj.path, params).json()


def _following_links(fetch: Fetch, obj: RestObject, params: dict[str, Any]) -> Iterator[Any]:
    response = fetch(obj.path, params)
    while True:
        body = response.json()
        yield body
        if isinstance(obj.pagination, LinkHeaderPagination):
            next_url = response.links.get("next", {}).get("url")
        else:
            next_url = dig(body, obj.pagination.next_path)
        if not next_url:
            return
        response = fetch(str(response.url.join(next_url)), None)


def _following_cursor(fetch: Fetch, obj: RestObject, params: dict[str, Any], style: CursorPagination) -> Iterator[Any]:
    token = None
    while True:
        body = fetch(obj.path, {**params, style.cursor_param: token} if token else params).json()
        yield body
        token = dig(body, style.cursor_path)
        if not token or not dig(body, obj.records):
            return


def _page_params(style: PagePagination | OffsetPagination, index: int) -> dict[str, Any]:
    if isinstance(style, PagePagination):
        page = {style.page_param: style.first_page + index}
        return {**page, style.size_param: style.size} if style.size_param else page
    return {style.offset_param: index * style.limit, style.limit_param: style.limit}


def _page_count(style: PagePagination | OffsetPagination, body: Any) -> int | None:
    if isinstance(style, PagePagination) and style.pages_path and dig(body, style.pages_path) is not None:
        return int(dig(body, style.pages_path))
    total = dig(body, style.total_path) if style.total_path else None
    if total is None:
        return None
    size = style.size if isinstance(style, PagePagination) else style.limit
    return math.ceil(int(total) / size)


def _numbered(fetch: Fetch, obj: RestObject, params: dict[str, Any], style, concurrency: int) -> Iterator[Any]:
    size = style.size if isinstance(style, PagePagination) else style.limit
    first = fetch(obj.path, {**params, **_page_params(style, 0)}).json()
    yield first
    count = _page_count(style, first)
    if count is not None:
        yield from _concurrently(fetch, obj, params, style, range(1, count), concurrency)
        return
    records, index = dig(first, obj.records), 1
    while records and len(records) >= size:
        body = fetch(obj.path, {**params, **_page_params(style, index)}).json()
        yield body
        records, index = dig(body, obj.records), index + 1


def _concurrently(fetch: Fetch, obj: RestObject, params: dict[str, Any], style, indexes: range, concurrency: int) -> Iterator[Any]:
    """Fetch ``indexes`` with at most ``concurrency`` requests in flight; yield bodies in order."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stagehouse-page") as pool:
        window: deque = deque()
        for index in indexes:
            window.append(pool.submit(lambda i=index: fetch(obj.path, {**params, **_page_params(style, i)}).json()))
            if len(window) >= concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
