"""The grid's queries as Arrow tables, on connections this process keeps where opening one costs
more than a page's query, and several queries of one page at once where the store runs them side
by side.

On PostgreSQL ``wh.arrow`` opens an ADBC connection per query, and the driver reads the server's
type catalog on every connect. The grid reads through ADBC connections kept here instead, in
autocommit: each query sees what is committed when it starts, as on a new connection, so nothing
read is older than the query. A connection is taken by one query at a time (a thread of each
browser session), and one that fails is closed, not reused. DuckDB's own ``wh.arrow`` is a query
on the request's open connection already.

Example::

    page, total = together(wh, [page_query, count_query])
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError, first_line
from stagehouse.connectors.sql.native import adbc_uri
from stagehouse.connectors.sql.pg_numeric import typed_numerics


def _adbc_connection(engine: sa.Engine) -> Any:
    import adbc_driver_postgresql.dbapi as adbc

    return adbc.connect(adbc_uri(engine), autocommit=True)


def _adbc_read(connection: Any, sql: str) -> pa.Table:
    with connection.cursor() as cur:
        cur.execute(sql)
        return typed_numerics(cur.fetch_arrow_table())


# Per dialect: how to open a connection to keep, and how to read a query on it. A store not
# named here reads through ``wh.arrow``, one query after the other.
KEPT_READERS: dict[str, tuple[Callable[[sa.Engine], Any], Callable[[Any, str], pa.Table]]] = {
    "postgresql": (_adbc_connection, _adbc_read),
}

_idle: dict[str, queue.SimpleQueue] = {}  # store URL -> connections no query holds now
_idle_lock = threading.Lock()
_workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="grid-read")


def arrow(wh: Any, statement: sa.Executable) -> pa.Table:
    """``statement``'s result, as ``wh.arrow`` returns it, on a kept connection where there are."""
    reader = KEPT_READERS.get(wh.engine.dialect.name)
    if reader is None:
        return wh.arrow(statement)
    opener, read = reader
    sql = str(statement.compile(dialect=wh.engine.dialect, compile_kwargs={"literal_binds": True}))
    url = wh.engine.url.render_as_string(hide_password=False)
    with _idle_lock:
        idle = _idle.setdefault(url, queue.SimpleQueue())
    for kept in (_take(idle), None):  # a new connection when none is kept, or the kept one lost its server
        if kept is _NONE_KEPT:
            continue
        connection = None
        try:
            connection = opener(wh.engine) if kept is None else kept
            table = read(connection, sql)
        except Exception as exc:  # noqa: BLE001 (raised below as ours, after the retry)
            if connection is not None:
                _close(connection)
            failure = exc
            continue
        idle.put(connection)
        return table
    raise WarehouseError(wh.name, "query", first_line(failure)) from failure


def together(wh: Any, statements: Sequence[sa.Executable]) -> list[pa.Table]:
    """The results of ``statements``, run at once on stores with kept connections (each query on
    its own), else one after the other."""
    if wh.engine.dialect.name not in KEPT_READERS or len(statements) < 2:
        return [arrow(wh, s) for s in statements]
    later = [_workers.submit(arrow, wh, s) for s in statements[1:]]
    first = arrow(wh, statements[0])
    return [first, *(f.result() for f in later)]


_NONE_KEPT = object()


def _take(idle: queue.SimpleQueue) -> Any:
    try:
        return idle.get_nowait()
    except queue.Empty:
        return _NONE_KEPT


def _close(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 (a broken connection may fail to close; it is dropped either way)
        pass


def forget_connections() -> None:
    """Close the kept connections (tests; a store about to be dropped)."""
    with _idle_lock:
        pools = list(_idle.values())
        _idle.clear()
    for idle in pools:
        while not idle.empty():
            _close(idle.get_nowait())
