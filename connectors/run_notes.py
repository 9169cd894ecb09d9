"""Notes beside Stagehouse's lock files: which run holds a lock, for messages that name it.

A run writes ``<lock>.run`` (run id, flow, start, pid, host) when it takes a lock and removes it
before letting go (``flows.run_lock``). A DuckDB store file is locked by ``<file>.stagehouse-lock``
for the whole run, so a client refused by DuckDB's file lock can say which run holds the store.

A reader outside a run (the run history, the cockpit) takes the same lock without waiting for
the length of its read (``reading_store``): DuckDB refuses a run's next connection while another
process has the file open, so a reader that slipped in between would fail the run.

Example::

    describe(read_note(store_lock_path(Path("data/local/db.duckdb"))))
    # "run 1f2e3d4c5b6a of flow shop (started 2026-12-02 04:00:00 UTC, PID 4242 on host)"
    with reading_store(Path("data/local/db.duckdb")):   # StoreHeldError naming the run while one holds it
        ...open the file, read, close it...
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from stagehouse.connectors.errors import StagehouseError


class StoreHeldError(StagehouseError):
    """A run holds the DuckDB store file: a reader must wait for it to end."""

    path: str
    run: str  # the run as ``describe`` names it

    def __init__(self, path: str, run: str) -> None:
        super().__init__(f"{run} holds the DuckDB store {path}; read it again when that run ends", path=path, run=run)


def store_lock_path(store_file: str | Path) -> str:
    """The lock file a run holds beside its DuckDB store file."""
    return f"{store_file}.stagehouse-lock"


def note_path(lock_path: str | Path) -> Path:
    return Path(f"{lock_path}.run")


def read_note(lock_path: str | Path) -> dict[str, Any] | None:
    """The note of the run holding ``lock_path`` (None when there is none or it is unreadable)."""
    try:
        return json.loads(note_path(lock_path).read_text())
    except (OSError, ValueError):
        return None


def describe(note: dict[str, Any] | None) -> str:
    """``run abc of flow F (started …, PID n on host)`` for messages; a run not yet noted is "another run"."""
    if not note:
        return "another run"
    started = note.get("started_at")
    if isinstance(started, str):
        started = dt.datetime.fromisoformat(started)
    if isinstance(started, dt.datetime):
        started = f"{started.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
    return (
        f"run {note.get('run_id')} of flow {note.get('flow')} (started {started}, PID {note.get('pid')} on "
        f"{note.get('host')})"
    )


@contextmanager
def reading_store(
    store_file: str | Path, refused: Callable[[StoreHeldError], Exception] = lambda held: held
) -> Iterator[None]:
    """Hold ``store_file``'s run lock while the block reads the file; at once when a run holds it,
    raise ``refused(StoreHeldError)`` (a caller's own error naming the run; errors of the block
    pass through as they are). A store whose folder does not exist yet has no run to protect."""
    lock_path = store_lock_path(store_file)
    if not Path(lock_path).parent.exists():
        yield
        return
    lock = filelock.FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise refused(StoreHeldError(str(store_file), describe(read_note(lock_path)))) from None
    try:
        yield
    finally:
        lock.release()
