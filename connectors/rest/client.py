"""HTTP for REST connections: httpx with auth, a client-side rate limit, and tenacity retries.

Transient failures — 429, 5xx, timeouts, connection errors — are retried with exponential
backoff and jitter, waiting what ``Retry-After`` says when the server says it, and giving up after
``max_attempts`` or ``max_seconds``. Other statuses fail at once. Every error names the
connection, the object, the URL with secrets masked, and the HTTP status.

Example::

    client = RestClient("crm", config, secrets)
    response = client.get("contacts", "/contacts", {"page": 2})
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from typing import Any

import httpx
import tenacity

from stagehouse.connectors.errors import SourceError, SourceUnavailableError
from stagehouse.connectors.rest.config import ApiKeyAuth, BasicAuth, BearerAuth, RestConnectionConfig

TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class RestError(SourceError):
    """An API call failed for good: the status (None for network errors) and a body excerpt."""

    def __init__(self, connection: str, obj: str, request: str, status: int | None, detail: str) -> None:
        problem = f"{request} -> " + (f"HTTP {status}" if status else "no response") + (f": {detail}" if detail else "")
        super().__init__(connection, f"object '{obj}'", problem)
        self.request, self.status, self.detail = request, status, detail


class TransientHttpError(Exception):
    """A response worth retrying; carries the server's Retry-After in seconds, if any."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = _retry_after_seconds(response.headers.get("Retry-After"))


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    parsed = email.utils.parsedate_to_datetime(value)
    return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class RateLimiter:
    """At most ``rate`` request starts per second, across threads."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        if start > now:
            time.sleep(start - now)


class RestClient:
    """One httpx client per connection, shared by the threads that fetch pages."""

    def __init__(self, name: str, config: RestConnectionConfig, secrets: dict[str, str]) -> None:
        self.name = name
        self.config = config
        self.masked_params: set[str] = set()
        headers = dict(config.headers)
        params: dict[str, str] = {}
        auth: httpx.Auth | None = None
        match config.auth:
            case BearerAuth():
                headers["Authorization"] = f"Bearer {secrets['token']}"
            case BasicAuth(username=username):
                auth = httpx.BasicAuth(username, secrets["password"])
            case ApiKeyAuth(name=key, location="header"):
                headers[key] = secrets["value"]
            case ApiKeyAuth(name=key, location="query"):
                params[key] = secrets["value"]
                self.masked_params.add(key)
        limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
        self.http = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            params=params,
            auth=auth,
            timeout=config.timeout_seconds,
            limits=limits,
        )
        self.limiter = RateLimiter(config.rate_limit.requests_per_second if config.rate_limit else None)

    def close(self) -> None:
        self.http.close()

    def display(self, url: httpx.URL) -> str:
        """The URL with secret query parameters masked."""
        for key in self.masked_params:
            if key in url.params:
                url = url.copy_set_param(key, "***")
        return str(url)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientHttpError) and exc.retry_after is not None:
            return exc.retry_after
        retry = self.config.retry
        backoff = min(retry.max_backoff_seconds, retry.backoff_seconds * 2 ** (state.attempt_number - 1))
        return backoff * (0.5 + 0.5 * random.random())

    def get(self, obj: str, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET ``url`` (relative to base_url, or absolute) with retries; raises RestError."""
        return self.request("GET", obj, url, params=params)

    def request(
        self,
        method: str,
        obj: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        allow_statuses: frozenset[int] = frozenset(),
        attempts: int | None = None,
    ) -> httpx.Response:
        """Send one request with retries; a status >= 400 not in ``allow_statuses`` raises RestError.
        ``attempts`` caps the tries (``retry.max_attempts``; 1 for a reachability check).

        A POST is not idempotent: it is retried only when the server said it did nothing (429,
        503) or the connection never opened, never after a timeout that may have created the object.
        """
        retry = self.config.retry
        # httpx replaces a URL's own query with the client's params (an api_key in the query):
        # a next link's ``?start=10`` would be lost and the first page fetched forever
        target = httpx.URL(url.lstrip("/") if not url.startswith("http") else url)
        # a list value repeats (?id=1&id=2)
        query = httpx.QueryParams([*target.params.multi_items(), *httpx.QueryParams(params or {}).multi_items()])
        request = self.http.build_request(method, target.copy_with(query=None), params=query or None, json=body)
        sent = f"{method} {self.display(request.url)}"  # as errors show it: secrets masked
        idempotent = method != "POST"
        retried = (TransientHttpError, httpx.TransportError) if idempotent else (TransientHttpError, httpx.ConnectError)

        def attempt() -> httpx.Response:
            self.limiter.wait()
            response = self.http.send(request)
            if response.status_code in (TRANSIENT_STATUSES if idempotent else {429, 503}):
                raise TransientHttpError(response)
            return response

        try:
            response = tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(retried),
                wait=self._wait,
                stop=(
                    tenacity.stop_after_attempt(attempts or retry.max_attempts)
                    | tenacity.stop_after_delay(retry.max_seconds)
                ),
                reraise=True,
            )(attempt)
        except TransientHttpError as exc:
            raise RestError(self.name, obj, sent, exc.response.status_code, _excerpt(exc.response)) from exc
        except httpx.TransportError as exc:
            problem = f"{sent} -> {type(exc).__name__}: {exc}"
            raise SourceUnavailableError(self.name, f"object '{obj}'", problem) from exc
        if response.status_code >= 400 and response.status_code not in allow_statuses:
            raise RestError(self.name, obj, sent, response.status_code, _excerpt(response))
        return response


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:200] + ("…" if len(text) > 200 else "")
