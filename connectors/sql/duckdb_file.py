"""Who holds a DuckDB file: a DuckDB file is open to one process at a time.

DuckDB refuses a second process with ``IO Error: Could not set lock on file "…": Conflicting
lock is held in /usr/bin/duckdb (PID 4242)``; this reads the program and PID from that text, so a
run can wait for the holder or name it in its error.

A run opens its store file many times (each pooled connection, each stage's commit); a process
outside Stagehouse that opens the file for a moment in between (a ``duckdb`` shell's glance) would
fail the run's next connection, so a run's engine retries that connection while the conflict lasts,
up to the bounded wait (``connect_when_free``).

Example::

    path = duckdb_file("duckdb:////data/local/db.duckdb")     # Path, or None for other stores
    holder = file_holder(path)                                  # None when the file is free
    if holder: print(holder)                                    # "/usr/bin/duckdb (PID 4242)"
    sa.event.listen(engine, "do_connect", connect_when_free)    # a run's store engine
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from stagehouse.connectors.errors import first_line
from stagehouse.connectors.sql.dialects import dialect_named

STORE_WAIT_SECONDS = 30.0  # how long a run waits for a process outside Stagehouse to let go of a DuckDB file
RETRY_SECONDS = 0.1
_CONFLICT = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?")


@dataclass(frozen=True)
class FileHolder:
    """The process holding a DuckDB file, as DuckDB reports it (``pid`` None when it does not)."""

    program: str
    pid: int | None
    text: str

    def __str__(self) -> str:
        return self.program if self.pid is None else f"{self.program} (PID {self.pid})"


def duckdb_file(url: str | sa.URL) -> Path | None:
    """The file of a DuckDB URL (a store one process at a time can open); None for other URLs
    and for an in-memory DuckDB."""
    url = sa.engine.make_url(url)
    if not dialect_named(url.get_backend_name()).capabilities.exclusive_file or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def parse_conflict(message: str) -> FileHolder | None:
    """The holder named in DuckDB's lock-conflict message, or None when it is not one."""
    if "Conflicting lock" not in message and "Could not set lock" not in message:
        return None
    found = _CONFLICT.search(message)
    if found is None:
        return FileHolder("another process", None, first_line(message))
    return FileHolder(found["program"], int(found["pid"]), found.group(0))


def file_holder(path: Path) -> FileHolder | None:
    """Open and close ``path`` once: None when this process could open it (or it does not exist
    yet), else the process DuckDB says holds it."""
    if not path.exists():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as exc:
        holder = parse_conflict(str(exc))
        if holder is None:
            raise
        return holder
    return None


def store_wait_seconds() -> float:
    """How long a run waits for an outside holder of a DuckDB store ($STAGEHOUSE_STORE_WAIT, seconds)."""
    return float(os.environ.get("STAGEHOUSE_STORE_WAIT", STORE_WAIT_SECONDS))


def connect_when_free(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
    """SQLAlchemy ``do_connect`` handler: the DBAPI connection, retried while another process holds
    the file (DuckDB's lock conflict), up to ``store_wait_seconds``; other errors at once."""
    deadline = time.monotonic() + store_wait_seconds()
    while True:
        try:
            return dialect.connect(*cargs, **cparams)
        except duckdb.IOException as exc:
            if parse_conflict(str(exc)) is None or time.monotonic() >= deadline:
                raise
        time.sleep(RETRY_SECONDS)
