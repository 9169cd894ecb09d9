"""Open the table store for the length of one request, and say which run holds it when it is busy.

A DuckDB file is open to one process at a time: a run holds ``<file>.stagehouse-lock`` for its
whole length (``flows.run_lock.store_file_lock``). The cockpit takes the same lock without waiting
for the length of one request, so a run that starts meanwhile waits a moment instead of failing,
and while a run holds it the request is refused with ``RunInProgressError`` naming the run. A
PostgreSQL store is open to many processes: its client is kept per process and never refused.

Example::

    with store_session("local") as wh:
        wh.list_schemas()
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stagehouse.connectors import connect
from stagehouse.connectors.errors import StagehouseError
from stagehouse.connectors.run_notes import StoreHeldError, reading_store
from stagehouse.connectors.run_notes import store_lock_path as lock_beside
from stagehouse.connectors.settings import default_instance, store_url
from stagehouse.connectors.sql.duckdb_file import duckdb_file
from stagehouse.flows.ui.reads import forget_connections


class RunInProgressError(StagehouseError):
    """A run holds the DuckDB store file: the cockpit cannot read or write it until the run ends."""

    def __init__(self, instance: str, run: str, path: str) -> None:
        super().__init__(
            f"instance '{instance}': {run} holds the DuckDB store; pages refresh when it ends, "
            "and edits are refused until then (nothing was saved: save again after the run)",
            instance=instance,
            run=run,
            path=path,
        )


_one_request = threading.Lock()  # the sessions of this process take the DuckDB store in turn
REQUEST_WAIT_SECONDS = 30.0


def store_lock_path(instance: str | None) -> Path | None:
    """``<file>.stagehouse-lock`` of ``instance``'s DuckDB store; None for a store many processes open."""
    path = duckdb_file(store_url(instance))
    return None if path is None else Path(lock_beside(path))


def busy_with(instance: str | None) -> str | None:
    """Which run holds ``instance``'s DuckDB store now (``run abc of flow F (…)``), or None when
    it is free or the store is not a DuckDB file. Takes and releases the lock at once."""
    path = duckdb_file(store_url(instance))
    if path is None:
        return None
    with _one_request:
        try:
            with reading_store(path):
                return None
        except StoreHeldError as exc:
            return exc.run


_kept: dict[str, Any] = {}  # instance -> warehouse client of a store many processes open


@contextmanager
def store_session(instance: str | None = None) -> Iterator[Any]:
    """The warehouse client of ``instance`` for one request: on DuckDB opened under the store's
    run lock (``RunInProgressError`` at once when a run holds it) and closed after; on other
    stores one client per process, kept."""
    name = instance or default_instance()
    path = duckdb_file(store_url(name))
    if path is None:
        if name not in _kept:
            _kept[name] = connect("warehouse", instance=name)
        yield _kept[name]
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _one_request.acquire(timeout=REQUEST_WAIT_SECONDS):
        raise RunInProgressError(name, "another request of this cockpit", lock_beside(path))
    try:
        with reading_store(path, lambda held: RunInProgressError(name, held.run, lock_beside(path))):
            warehouse = connect("warehouse", instance=name)
            try:
                yield warehouse
            finally:
                warehouse.close()
    finally:
        _one_request.release()


def forget_clients() -> None:
    """Close the kept clients and the grid's kept connections (tests; a server that shuts down)."""
    forget_connections()
    while _kept:
        _kept.popitem()[1].close()
