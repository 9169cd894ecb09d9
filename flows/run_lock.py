"""One run of a flow at a time per instance, through the instance's own lock manager; one
process at a time on a DuckDB store file.

pipedag locks stages while it writes them; two runs of one flow could still interleave stage by
stage. Stagehouse takes one more lock, ``stagehouse_run_<flow>``, for the whole run, from the
same lock manager pipedag.yaml configures (a lock file beside pipedag's for FileLockManager, a
PostgreSQL advisory lock for DatabaseLockManager), so it holds across processes and machines
sharing the store. A second run either waits for the first (``wait``) or gives up at once
(``skip``); a killed run's lock is released by the operating system or the database.

A DuckDB file is open to one process at a time, whatever flow it runs: ``store_file_lock`` holds a
lock file beside it from before the first connection until the store's engine is disposed, and
then waits (bounded) while a process outside Stagehouse (a ``duckdb`` shell, a notebook) holds the
file. Each lock file has a note beside it (``<lock>.run``: run id, flow, start, pid, host), so a
run that skips or waits can name the run holding the lock even when the history, in the DuckDB
file, cannot be read.

Example::

    with flow_run_lock(config, "nycflights", overlap="skip", note=note) as acquired:
        if acquired:
            with store_file_lock(config, note):
                ...run...
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import filelock
import sqlalchemy as sa
from pydiverse.pipedag import ConfigContext
from pydiverse.pipedag.backend.lock import FileLockManager
from pydiverse.pipedag.backend.lock.database import PostgresLock, PostgresLockManager
from pydiverse.pipedag.backend.lock.nolock import NoLockManager

from stagehouse.connectors.errors import StagehouseError
from stagehouse.connectors.run_notes import describe, note_path, read_note, store_lock_path
from stagehouse.connectors.sql.duckdb_file import duckdb_file, file_holder, store_wait_seconds
from stagehouse.flows.history import RunHistory

Overlap = Literal["wait", "skip"]
POLL_SECONDS = 0.2


class LockUnsupportedError(StagehouseError):
    """The instance's lock manager cannot hold a Stagehouse run lock."""


class StoreBusyError(StagehouseError):
    """A process outside Stagehouse held the DuckDB store file for longer than a run waits."""


@contextmanager
def _noted(lock_path: str | Path, note: dict[str, Any] | None) -> Iterator[None]:
    """Write ``note`` beside a lock just taken; remove it before the lock is released."""
    path = note_path(lock_path)
    if note is not None:
        note["started_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")  # when the lock was taken
        path.write_text(json.dumps(note, default=str))
    try:
        yield
    finally:
        if note is not None:
            path.unlink(missing_ok=True)


def running_note(config: ConfigContext, flow: str) -> dict[str, Any] | None:
    """The note of the run holding ``flow``'s run lock, where the lock is a file (FileLockManager)."""
    manager = config.create_lock_manager()
    try:
        if isinstance(manager, FileLockManager):
            return read_note(manager.lock_path(f"stagehouse_run_{flow}"))
        return None
    finally:
        manager.dispose()


@contextmanager
def flow_run_lock(
    config: ConfigContext,
    flow: str,
    overlap: Overlap = "wait",
    note: dict[str, Any] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[bool]:
    """Hold the run lock of ``flow`` on ``config``'s instance; yields False when ``overlap`` is
    ``skip`` and another run holds it (nothing is locked then). ``note`` is written beside a lock
    file while it is held; ``on_wait`` hears once that the run waits, and for whom."""
    manager = config.create_lock_manager()
    name = f"stagehouse_run_{flow}"
    try:
        if isinstance(manager, FileLockManager):
            path = manager.lock_path(name)
            lock = filelock.FileLock(path, thread_local=False)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                if overlap == "skip":
                    yield False
                    return
                if on_wait is not None:
                    on_wait(f"{describe(read_note(path))} is in progress; this run starts when it ends")
                lock.acquire()
            try:
                with _noted(path, note):
                    yield True
            finally:
                lock.release()
        elif isinstance(manager, PostgresLockManager):
            with manager.engine.connect() as conn:
                lock_id = PostgresLock(manager.lock_name(name), conn)._id
                told = False
                while not conn.exec_driver_sql(f"SELECT pg_catalog.pg_try_advisory_lock({lock_id})").scalar():
                    if overlap == "skip":
                        yield False
                        return
                    if not told and on_wait is not None:
                        running = _running_in_history(manager.engine, config.instance_name, flow)
                        on_wait(f"{describe(running)} is in progress; this run starts when it ends")
                        told = True
                    time.sleep(POLL_SECONDS)
                try:
                    yield True
                finally:
                    conn.exec_driver_sql(f"SELECT pg_catalog.pg_advisory_unlock({lock_id})")
                    conn.commit()
        elif isinstance(manager, NoLockManager):
            yield True
        else:
            raise LockUnsupportedError(
                f"lock manager {type(manager).__name__} cannot hold a flow run lock; use FileLockManager or "
                "DatabaseLockManager"
            )
    finally:
        manager.dispose()


def _running_in_history(engine: sa.Engine, instance: str, flow: str) -> dict[str, Any] | None:
    """The RUNNING run of ``flow`` in the history of a store many processes can read (None if unknown)."""
    try:
        return RunHistory(engine, instance).running(flow)
    except Exception:  # noqa: BLE001 (only a message depends on it)
        return None


def store_file(config: ConfigContext) -> Path | None:
    """The DuckDB file of ``config``'s table store (None for a store many processes can open),
    read from the config: building the store or asking it would not tell more."""
    return duckdb_file(config._config_dict["table_store"]["args"]["url"])


@contextmanager
def store_file_lock(
    config: ConfigContext, note: dict[str, Any] | None = None, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """On a DuckDB store, hold ``<file>.stagehouse-lock`` (waiting for another Stagehouse run that
    holds it), then wait until no other process holds the file; other stores: nothing to do.

    Exit this only after the store's engine is disposed: the next run opens the file right after.
    """
    path = store_file(config)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = store_lock_path(path)
    lock = filelock.FileLock(lock_path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if on_wait is not None:
            on_wait(f"waiting for {describe(read_note(lock_path))} to release the DuckDB store {path}")
        lock.acquire()
    try:
        with _noted(lock_path, note):
            _wait_until_free(path, config.instance_name, on_wait)
            yield
    finally:
        lock.release()


def _wait_until_free(path: Path, instance: str, on_wait: Callable[[str], None] | None) -> None:
    """Return once this process can open ``path``; a holder still there after the bounded wait is a
    ``StoreBusyError`` naming it."""
    wait = store_wait_seconds()
    deadline = time.monotonic() + wait
    told = False
    while (holder := file_holder(path)) is not None:
        if time.monotonic() >= deadline:
            raise StoreBusyError(
                f"instance '{instance}': the DuckDB store {path} is held by {holder}, not a Stagehouse run; "
                f"close that program's connection (a duckdb shell, a notebook) and run again",
                instance=instance,
                path=str(path),
                program=holder.program,
                pid=holder.pid,
            )
        if not told and on_wait is not None:
            on_wait(f"the DuckDB store {path} is held by {holder}; waiting up to {wait:.0f} s for it to close the file")
            told = True
        time.sleep(POLL_SECONDS * 2)
