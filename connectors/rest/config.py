"""Typed config of a ``type: rest`` connection: base URL, auth, retries, and one entry per object.

Example (pipedag.yaml, under ``attrs.connections``)::

    crm:
      type: rest
      base_url: "https://crm.example.com/api/v2"
      auth: {type: bearer, token: "{$CRM_TOKEN}"}
      rate_limit: {requests_per_second: 20}
      objects:
        contacts:
          path: /contacts
          records: data                          # dotted path to the record list
          pagination: {style: page, page_param: page, size_param: per_page, size: 500, total_path: meta.total}
          incremental: {param: updated_since}    # the API's "since" filter for incremental syncs
          freshness: {path: /contacts/count, value: total}   # optional: a cheap "did it change?" request
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from stagehouse.connectors.base import ConnectionConfig
from stagehouse.connectors.placeholders import is_placeholder


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _placeholder_only(value: str) -> str:
    if not is_placeholder(value):
        raise ValueError("secrets go in an environment variable: write it as {$NAME}")
    return value


Secret = Annotated[str, AfterValidator(_placeholder_only)]


class BearerAuth(_Strict):
    type: Literal["bearer"]
    token: Secret


class BasicAuth(_Strict):
    type: Literal["basic"]
    username: str
    password: Secret


class ApiKeyAuth(_Strict):
    type: Literal["api_key"]
    name: str
    value: Secret
    location: Literal["header", "query"] = "header"


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


class NoPagination(_Strict):
    style: Literal["none"] = "none"


class NextLinkPagination(_Strict):
    """The body carries the next page's URL (``links.next``); absent or null ends."""

    style: Literal["next_link"]
    next_path: str = "next"


class LinkHeaderPagination(_Strict):
    """RFC 8288 ``Link: <url>; rel="next"`` header (GitHub style)."""

    style: Literal["link_header"]


class _Total:
    """A record total, read from the body (``total_path``) or a response header (``total_header``:
    a number as in ``X-Total-Count``, or ``Content-Range: items 0-9/200``); one of them."""

    total_path: str | None
    total_header: str | None

    @model_validator(mode="after")
    def _one_total(self):
        if self.total_path and self.total_header:
            raise ValueError("set total_path (body) or total_header (response header), not both")
        return self


class PagePagination(_Total, _Strict):
    """``?page=N&per_page=M``; with ``total_path``/``total_header`` (records) or ``pages_path``
    the remaining pages run concurrently."""

    style: Literal["page"]
    page_param: str = "page"
    size_param: str | None = "per_page"
    size: PositiveInt = 100
    first_page: int = 1
    total_path: str | None = None
    total_header: str | None = None
    pages_path: str | None = None


class OffsetPagination(_Total, _Strict):
    """``?offset=K&limit=M``; with ``total_path`` or ``total_header`` pages run concurrently."""

    style: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: PositiveInt = 100
    total_path: str | None = None
    total_header: str | None = None


class CursorPagination(_Strict):
    """The body carries an opaque token (``meta.next_cursor``) sent back as ``?cursor=``."""

    style: Literal["cursor"]
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"


Pagination = Annotated[
    NoPagination | NextLinkPagination | LinkHeaderPagination | PagePagination | OffsetPagination | CursorPagination,
    Field(discriminator="style"),
]


class Incremental(_Strict):
    """How to ask the API for records changed since a value (the sync's cursor)."""

    param: str


class Freshness(_Strict):
    """One cheap request whose answer changes when the object's records do — a count or
    last-modified endpoint: ``{path: /customers/count, value: total}`` reads a body field,
    ``{path: /customers, params: {_limit: 1}, header: X-Total-Count}`` a response header.
    A sync of the object reruns only when the answer differs from the last run's."""

    path: str
    params: dict[str, str | int | float | bool] = {}
    value: str | None = None
    header: str | None = None

    @model_validator(mode="after")
    def _one_answer(self):
        if (self.value is None) == (self.header is None):
            raise ValueError(
                "give value (a dotted path in the body, e.g. meta.total) or header (e.g. Last-Modified), one of them"
            )
        if not self.path.strip():
            raise ValueError("path is empty: give the endpoint to ask, e.g. /customers/count")
        return self


class BatchLookup(_Strict):
    """Many records in one request: ``GET <path>?<param>=1&<param>=2`` (``repeat``, json-server,
    many REST frameworks) or ``?<param>=1,2`` (``comma``), at most ``max_ids`` ids a request.
    Writeback uses it for its conflict check instead of one GET per row."""

    param: str = "id"
    style: Literal["repeat", "comma"] = "repeat"
    max_ids: PositiveInt = 100


class RestObject(_Strict):
    """One object (endpoint) of the API."""

    path: str
    records: str | None = None
    primary_key: list[str] | None = None
    params: dict[str, str | int | float | bool] = {}
    pagination: Pagination = NoPagination()
    incremental: Incremental | None = None
    freshness: Freshness | None = None
    nested: Literal["flatten", "json"] = "flatten"
    lists: Literal["json", "keep"] = "json"
    types: dict[str, Literal["string", "timestamp"]] = {}  # per field: keep text, or require a timestamp
    detect_timestamps: bool = True  # text fields whose values are all ISO-8601 timestamps become timestamps
    id_field: str = "id"
    item_path: str | None = None
    update_method: Literal["PATCH", "PUT"] = "PATCH"
    batch_lookup: BatchLookup | None = None

    def item_url(self, object_id: Any) -> str:
        """The URL of one record: ``item_path`` with ``{id}`` filled in, else ``<path>/<id>``."""
        encoded = quote(str(object_id), safe="")
        if self.item_path:
            return self.item_path.replace("{id}", encoded)
        return f"{self.path.rstrip('/')}/{encoded}"


class Retry(_Strict):
    """Retries of 429, 5xx, timeouts and connection errors: exponential backoff, Retry-After honoured."""

    max_attempts: PositiveInt = 6
    max_seconds: PositiveFloat = 120.0
    backoff_seconds: PositiveFloat = 0.5
    max_backoff_seconds: PositiveFloat = 30.0


class RateLimit(_Strict):
    requests_per_second: PositiveFloat


class RestConnectionConfig(ConnectionConfig):
    """A REST/SaaS API."""

    type: Literal["rest"]
    base_url: str
    auth: Auth | None = None
    headers: dict[str, str] = {}
    timeout_seconds: PositiveFloat = 30.0
    retry: Retry = Retry()
    rate_limit: RateLimit | None = None
    concurrency: PositiveInt = 4
    batch_rows: PositiveInt = 65_536
    schema_lookahead_pages: PositiveInt = 5
    objects: dict[str, RestObject] = {}
