"""SQLAlchemy engines for SQL connections: one pooled engine per server database and process.

A sync asks its source small questions on every run (freshness, primary key) and a scheduler
or notebook runs flows again and again in one process. A new engine per connection object
paid a new login each time; a server's
engine is therefore kept for the process and its pool reused, checked by a ping on checkout
(``pool_pre_ping``), so a restarted server costs one reconnect, not a failed run. Files
(SQLite, DuckDB) get an engine of their own that the connection disposes when it closes: an
open pool would keep the file open (and DuckDB's file locked) after the connection is done. A
file's connection cannot drop away as a server's can, so its checkouts are not pinged (a request
of the cockpit checks a connection out a dozen times).

Example::

    engine = engine_for(url)          # the same engine for the same URL in this process
    release_engine(engine)            # disposes a file's engine; a server's stays pooled
"""

from __future__ import annotations

import os
import threading

import sqlalchemy as sa
from sqlalchemy.engine import URL

SERVER_BACKENDS = frozenset({"postgresql", "mysql", "mariadb", "mssql", "oracle"})

_server_engines: dict[tuple[int, str], sa.Engine] = {}
_server_engines_lock = threading.Lock()


def is_server(url: URL) -> bool:
    """True for a database server (pooled per process), False for a file or in-memory database."""
    return url.get_backend_name() in SERVER_BACKENDS


def engine_for(url: URL) -> sa.Engine:
    """The engine for ``url``: the process's pooled one for a server, a new one for a file.

    Keyed by the process id too: a forked worker (Dask) must not use its parent's sockets.
    """
    if not is_server(url):
        return sa.create_engine(url)
    key = (os.getpid(), url.render_as_string(hide_password=False))
    with _server_engines_lock:
        engine = _server_engines.get(key)
        if engine is None:
            engine = _server_engines[key] = sa.create_engine(url, pool_pre_ping=True)
        return engine


PING_CONNECT_ARGS = {  # a server that does not answer fails a check in seconds, not minutes
    "postgresql": {"connect_timeout": 10},
    "mysql": {"connect_timeout": 10},
    "mariadb": {"connect_timeout": 10},
}


def ping_server(url: URL) -> None:
    """Connect to a server once on a fresh connection (not the pool) and run ``SELECT 1``.

    Example: ``ping_server(make_url("postgresql+psycopg://app@db:5432/shop"))``
    """
    engine = sa.create_engine(
        url, poolclass=sa.pool.NullPool, connect_args=PING_CONNECT_ARGS.get(url.get_backend_name(), {})
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()


def release_engine(engine: sa.Engine) -> None:
    """Close a file database's engine; a server's engine stays pooled for the next connection."""
    if not is_server(engine.url):
        engine.dispose()
