"""Walk an object's pages in each common pagination style, yielding parsed pages in order.

Styles whose pages are known in advance (page number or offset, with a total from the first
page's body or headers) fetch the remaining pages concurrently, at most ``concurrency`` in flight, still yielded
in page order; the others follow the API's links or tokens one page at a time.

Example::

    for page in pages(fetch, obj_config, params, concurrency=4):
        records = page.records_array("data")
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stagehouse.connectors.rest.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PagePagination,
    RestObject,
)

from stagehouse.connectors.rest.page import Page

Fetch = Callable[[str, dict[str, Any] | None], Page]


def pages(fetch: Fetch, obj: RestObject, params: dict[str, Any], concurrency: int) -> Iterator[Page]:
    """Every page of ``obj``; ``fetch`` parses each (on the thread that fetched it)."""
    style = obj.pagination
    match style:
        case NextLinkPagination() | LinkHeaderPagination():
            yield from _following_links(fetch, obj, params)
        case CursorPagination():
            yield from _following_cursor(fetch, obj, params, style)
        case PagePagination() | OffsetPagination():
            yield from _numbered(fetch, obj, params, style, concurrency)
        case _:
            yield fetch(obj.path, params)


def _following_links(fetch: Fetch, obj: RestObject, params: dict[str, Any]) -> Iterator[Page]:
    page = fetch(obj.path, params)
    while True:
        yield page
        if isinstance(obj.pagination, LinkHeaderPagination):
            next_url = page.response.links.get("next", {}).get("url")
        else:
            next_url = page.get(obj.pagination.next_path)
        if not next_url:
            return
        page = fetch(str(page.response.url.join(next_url)), None)


def _following_cursor(fetch: Fetch, obj: RestObject, params: dict[str, Any], style: CursorPagination) -> Iterator[Page]:
    token = None
    while True:
        page = fetch(obj.path, {**params, style.cursor_param: token} if token else params)
        yield page
        token = page.get(style.cursor_path)
        if not token or not page.record_count(obj.records):
            return


def _page_params(style: PagePagination | OffsetPagination, index: int) -> dict[str, Any]:
    if isinstance(style, PagePagination):
        page = {style.page_param: style.first_page + index}
        return {**page, style.size_param: style.size} if style.size_param else page
    return {style.offset_param: index * style.limit, style.limit_param: style.limit}


CONTENT_RANGE_TOTAL = re.compile(r"/\s*(\d+)\s*$")


def header_total(page: Page, header: str) -> int | None:
    """The record total in response header ``header``: a number (``X-Total-Count: 200``) or the
    part after the slash of a range (``Content-Range: items 0-9/200``); None when absent or ``*``."""
    value = page.response.headers.get(header)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    found = CONTENT_RANGE_TOTAL.search(value)
    return int(found.group(1)) if found else None


def record_total(style: PagePagination | OffsetPagination, page: Page) -> int | None:
    """The total the API reports on ``page`` (body ``total_path`` or ``total_header``), if any."""
    if style.total_header:
        return header_total(page, style.total_header)
    total = page.get(style.total_path) if style.total_path else None
    return None if total is None else int(total)


def _page_count(style: PagePagination | OffsetPagination, page: Page) -> int | None:
    if isinstance(style, PagePagination) and style.pages_path and page.get(style.pages_path) is not None:
        return int(page.get(style.pages_path))
    total = record_total(style, page)
    if total is None:
        return None
    size = style.size if isinstance(style, PagePagination) else style.limit
    return math.ceil(total / size)


def _numbered(fetch: Fetch, obj: RestObject, params: dict[str, Any], style, concurrency: int) -> Iterator[Page]:
    size = style.size if isinstance(style, PagePagination) else style.limit
    first = fetch(obj.path, {**params, **_page_params(style, 0)})
    yield first
    count = _page_count(style, first)
    if count is not None:
        yield from _concurrently(fetch, obj, params, style, range(1, count), concurrency)
        return
    records, index = first.record_count(obj.records), 1
    while records >= size:
        page = fetch(obj.path, {**params, **_page_params(style, index)})
        yield page
        records, index = page.record_count(obj.records), index + 1


def _concurrently(fetch: Fetch, obj: RestObject, params: dict[str, Any], style, indexes: range, concurrency: int) -> Iterator[Page]:
    """Fetch ``indexes`` with at most ``concurrency`` requests in flight; yield pages in order."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stagehouse-page") as pool:
        window: deque = deque()
        for index in indexes:
            window.append(pool.submit(lambda i=index: fetch(obj.path, {**params, **_page_params(style, i)})))
            if len(window) >= concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
