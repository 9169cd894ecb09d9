"""The grid's queries as Arrow tables, on connections this process keeps where opening one costs
more than a page's query, and several queries of one page at once where the store runs them side
by side.

On PostgreSQL ``wh.arrow`` opens an ADBC connection per query, and the driver reads the server's
type catalog on every connect. The grid reads through ADBC connections kept here instead, in
autocommit: each query sees what is committed when it starts, as on a new connection, so nothing
read is older than the query. A connection is taken by one query at a time (a thread of each
browser session); one that fails is closed, not reused, and the query runs again on a new one,
as does a query with a column of a type the server got after the connection opened (the driver
reads the types on connect). DuckDB's own ``wh.arrow`` is a query on the request's open
connection already.

Example::

    page, total = together(wh, [page_query, count_query])
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError, first_line
from stagehouse.connectors.sql.dialects import dialect_of

_idle: dict[str, queue.SimpleQueue] = {}  # store URL -> connections no query holds now
_idle_lock = threading.Lock()
_workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="grid-read")


def arrow(wh: Any, statement: sa.Executable) -> pa.Table:
    """``statement``'s result, as ``wh.arrow`` returns it, on a kept connection where there are."""
    reader = dialect_of(wh.engine)
    if not _keeps_connections(wh):
        return wh.arrow(statement)
    assert isinstance(statement, sa.ClauseElement)  # every statement is one
    sql = str(statement.compile(dialect=wh.engine.dialect, compile_kwargs={"literal_binds": True}))
    url = wh.engine.url.render_as_string(hide_password=False)
    with _idle_lock:
        idle = _idle.setdefault(url, queue.SimpleQueue())
    kept = _take(idle)
    if kept is not None:
        try:
            table = reader.read_arrow(kept, sql)
        except Exception:  # noqa: BLE001 (the server may have ended it: read again on a new one)
            table = None
        if table is not None and not reader.outdated_read(table):
            idle.put(kept)
            return table
        _close(kept)
    connection = None
    try:
        connection = reader.kept_arrow_connection(wh.engine)
        table = reader.read_arrow(connection, sql)
    except Exception as exc:
        if connection is not None:
            _close(connection)
        raise WarehouseError(wh.name, "query", first_line(exc)) from exc
    idle.put(connection)
    return table


def soon(wh: Any, work: Callable[..., Any], *args: Any) -> Future:
    """``work(*args)`` on a worker thread on stores that run queries side by side (the page's
    reads go on meanwhile), else done now; its future."""
    if _keeps_connections(wh):
        return _workers.submit(work, *args)
    done: Future = Future()
    done.set_result(work(*args))
    return done


def together(wh: Any, statements: Sequence[sa.Executable]) -> list[pa.Table]:
    """The results of ``statements``, run at once on stores with kept connections (each query on
    its own), else one after the other."""
    if not _keeps_connections(wh) or len(statements) < 2:
        return [arrow(wh, s) for s in statements]
    later = [_workers.submit(arrow, wh, s) for s in statements[1:]]
    first = arrow(wh, statements[0])
    return [first, *(f.result() for f in later)]


def _keeps_connections(wh: Any) -> bool:
    return dialect_of(wh.engine).capabilities.kept_arrow_connections


def _take(idle: queue.SimpleQueue) -> Any:
    try:
        return idle.get_nowait()
    except queue.Empty:
        return None


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
