"""Walk an object's pages in its pagination style: one class per style, in the shape of dlt's
paginators. ``update_state`` takes what a page says about the next one (a link, a token, a
total, how many records it held), ``update_request`` turns that into the next request, and
``has_next_page`` says whether there is one.

Styles whose pages are known after the first (page number or offset, with a total from the first
page's body or headers) fetch the rest concurrently, at most ``concurrency`` in flight, still
yielded in page order; the others follow the API's links or tokens one page at a time. A new
style is a config model in ``connectors.rest.config``, a class here and a line in ``PAGINATORS``.

Example::

    for page in pages(fetch, obj_config, params, concurrency=4):
        records = page.records_array("data")

    paginator = paginator_for(CursorPagination(style="cursor", cursor_path="meta.next"))
    paginator.update_state(page, records=100)    # the page's meta.next: "abc"
    paginator.update_request(Request("/contacts", {}))   # Request("/contacts", {"cursor": "abc"})
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stagehouse.connectors.rest.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextLinkPagination,
    OffsetPagination,
    PagePagination,
    Pagination,
    RestObject,
)
from stagehouse.connectors.rest.page import Page

Fetch = Callable[[str, dict[str, Any] | None], Page]


@dataclass(frozen=True)
class Request:
    """A page's request: ``url`` relative to base_url (or absolute), ``params`` its query
    (None: only the URL's own, as for a next link)."""

    url: str
    params: dict[str, Any] | None = None


class Paginator(ABC):
    """The pagination state of one read; a fresh one per read (``paginator_for``)."""

    def __init__(self, config: Pagination) -> None:
        self.config = config
        self.has_next_page = True

    def first_request(self, request: Request) -> Request:
        """The first page's request: ``request`` with the style's parameters for it, if any."""
        return request

    @abstractmethod
    def update_state(self, page: Page, records: int) -> None:
        """Take what ``page``, holding ``records`` records, says about the next page."""

    @abstractmethod
    def update_request(self, request: Request) -> Request:
        """The next page's request, from the last page's ``request`` and the state."""

    def requests_ahead(self, first: Request) -> list[Request] | None:
        """Every later page's request when the first page told how many there are, else None."""
        return None

    def one_record_params(self) -> dict[str, Any]:
        """Query parameters for a first page of one record, where the style has a size parameter
        (a freshness check asks for one record)."""
        return {}

    def record_total(self, page: Page) -> int | None:
        """The number of records the API reports in all on ``page``; None when it reports none."""
        return None

    def more_after_first(self, page: Page, records: int) -> bool:
        """Whether a first ``page`` holding ``records`` records, asked for with
        ``one_record_params``, is followed by another."""
        self.update_state(page, records)
        return self.has_next_page


class SinglePagePaginator(Paginator):
    """``style: none``: the object is one page."""

    def update_state(self, page: Page, records: int) -> None:
        self.has_next_page = False

    def update_request(self, request: Request) -> Request:
        return request  # never asked: there is no next page


class _LinkFollowing(Paginator):
    """The API gives the next page's URL, absolute or relative to the page's own."""

    next_url: str | None = None

    @abstractmethod
    def _next_link(self, page: Page) -> str | None: ...

    def update_state(self, page: Page, records: int) -> None:
        link = self._next_link(page)
        self.next_url = str(page.response.url.join(link)) if link else None
        self.has_next_page = self.next_url is not None

    def update_request(self, request: Request) -> Request:
        assert self.next_url is not None
        return Request(self.next_url)


class NextLinkPaginator(_LinkFollowing):
    """``style: next_link``: the body carries the next URL at ``next_path``; null or absent ends."""

    config: NextLinkPagination

    def _next_link(self, page: Page) -> str | None:
        return page.get(self.config.next_path)


class LinkHeaderPaginator(_LinkFollowing):
    """``style: link_header``: RFC 8288 ``Link: <url>; rel="next"``; no ``next`` ends."""

    config: LinkHeaderPagination

    def _next_link(self, page: Page) -> str | None:
        return page.response.links.get("next", {}).get("url")


class CursorPaginator(Paginator):
    """``style: cursor``: the body carries a token (``cursor_path``) sent back as ``cursor_param``;
    a null token or a page without records ends."""

    config: CursorPagination
    token: Any = None

    def update_state(self, page: Page, records: int) -> None:
        self.token = page.get(self.config.cursor_path)
        self.has_next_page = bool(self.token) and records > 0

    def update_request(self, request: Request) -> Request:
        return Request(request.url, {**(request.params or {}), self.config.cursor_param: self.token})


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


class _Numbered(Paginator):
    """Pages by number: the first page's total (``total_path``/``total_header``) tells how many
    there are; without one, a page with fewer records than the page size is the last."""

    config: PagePagination | OffsetPagination
    index = 0  # of the next page
    page_count: int | None = None

    @property
    @abstractmethod
    def size(self) -> int:
        """Records per page."""

    @property
    @abstractmethod
    def size_param(self) -> str | None:
        """The query parameter that sets the page size, if the API has one."""

    @abstractmethod
    def page_params(self, index: int) -> dict[str, Any]:
        """The query parameters of page ``index`` (0 is the first)."""

    def first_request(self, request: Request) -> Request:
        return Request(request.url, {**(request.params or {}), **self.page_params(0)})

    def update_state(self, page: Page, records: int) -> None:
        if self.index == 0:
            self.page_count = self._page_count(page)
        self.index += 1
        self.has_next_page = self.index < self.page_count if self.page_count is not None else records >= self.size

    def update_request(self, request: Request) -> Request:
        return Request(request.url, {**(request.params or {}), **self.page_params(self.index)})

    def requests_ahead(self, first: Request) -> list[Request] | None:
        if self.page_count is None:
            return None
        return [Request(first.url, {**(first.params or {}), **self.page_params(i)}) for i in range(1, self.page_count)]

    def record_total(self, page: Page) -> int | None:
        """The total the API reports on ``page`` (body ``total_path`` or ``total_header``), if any."""
        if self.config.total_header:
            return header_total(page, self.config.total_header)
        total = page.get(self.config.total_path) if self.config.total_path else None
        return None if total is None else int(total)

    def _page_count(self, page: Page) -> int | None:
        total = self.record_total(page)
        return None if total is None else math.ceil(total / self.size)

    def one_record_params(self) -> dict[str, Any]:
        params = self.page_params(0)
        return {**params, self.size_param: 1} if self.size_param else params

    def more_after_first(self, page: Page, records: int) -> bool:
        total = self.record_total(page)
        if total is not None:
            return total > records
        return records >= (1 if self.size_param else self.size)


class PageNumberPaginator(_Numbered):
    """``style: page``: ``?page=N&per_page=M``; ``pages_path`` may give the page count itself."""

    config: PagePagination

    @property
    def size(self) -> int:
        return self.config.size

    @property
    def size_param(self) -> str | None:
        return self.config.size_param

    def page_params(self, index: int) -> dict[str, Any]:
        number = {self.config.page_param: self.config.first_page + index}
        return {**number, self.config.size_param: self.config.size} if self.config.size_param else number

    def _page_count(self, page: Page) -> int | None:
        if self.config.pages_path and (count := page.get(self.config.pages_path)) is not None:
            return int(count)
        return super()._page_count(page)


class OffsetPaginator(_Numbered):
    """``style: offset``: ``?offset=K&limit=M``."""

    config: OffsetPagination

    @property
    def size(self) -> int:
        return self.config.limit

    @property
    def size_param(self) -> str | None:
        return self.config.limit_param

    def page_params(self, index: int) -> dict[str, Any]:
        return {self.config.offset_param: index * self.config.limit, self.config.limit_param: self.config.limit}


PAGINATORS: dict[str, type[Paginator]] = {
    "none": SinglePagePaginator,
    "next_link": NextLinkPaginator,
    "link_header": LinkHeaderPaginator,
    "cursor": CursorPaginator,
    "page": PageNumberPaginator,
    "offset": OffsetPaginator,
}


def paginator_for(config: Pagination) -> Paginator:
    """A fresh paginator for an object's ``pagination`` config (its ``style`` picks the class)."""
    return PAGINATORS[config.style](config)


def pages(fetch: Fetch, obj: RestObject, params: dict[str, Any], concurrency: int) -> Iterator[Page]:
    """Every page of ``obj``; ``fetch`` parses each (on the thread that fetched it)."""
    paginator = paginator_for(obj.pagination)
    request = first = paginator.first_request(Request(obj.path, params))
    page = fetch(request.url, request.params)
    while True:
        yield page
        paginator.update_state(page, page.record_count(obj.records))
        if (ahead := paginator.requests_ahead(first)) is not None:
            yield from _concurrently(fetch, ahead, concurrency)
            return
        if not paginator.has_next_page:
            return
        request = paginator.update_request(request)
        page = fetch(request.url, request.params)


def _concurrently(fetch: Fetch, requests: list[Request], concurrency: int) -> Iterator[Page]:
    """Fetch ``requests`` with at most ``concurrency`` in flight; yield the pages in order."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="stagehouse-page") as pool:
        window: deque = deque()
        for request in requests:
            window.append(pool.submit(fetch, request.url, request.params))
            if len(window) >= concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
