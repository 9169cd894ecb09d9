"""One run of a flow at a time per instance, through the instance's own lock manager.

pipedag locks stages while it writes them; two runs of one flow could still interleave stage by
stage. Stagehouse takes one more lock, ``stagehouse_run_<flow>``, for the whole run, from the
same lock manager pipedag.yaml configures (a lock file beside pipedag's for FileLockManager, a
PostgreSQL advisory lock for DatabaseLockManager), so it holds across processes and machines
sharing the store. A second run either waits for the first (``wait``) or gives up at once
(``skip``); a killed run's lock is released by the operating system or the database.

Example::

    with flow_run_lock(config, "nycflights", overlap="skip") as acquired:
        if acquired:
            ...run...
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import filelock
from pydiverse.pipedag import ConfigContext
from pydiverse.pipedag.backend.lock import FileLockManager
from pydiverse.pipedag.backend.lock.database import PostgresLock, PostgresLockManager
from pydiverse.pipedag.backend.lock.nolock import NoLockManager

from connectors.errors import StagehouseError

Overlap = Literal["wait", "skip"]
POLL_SECONDS = 0.2


class LockUnsupportedError(StagehouseError):
    """The instance's lock manager cannot hold a Stagehouse run lock."""


@contextmanager
def flow_run_lock(config: ConfigContext, flow: str, overlap: Overlap = "wait") -> Iterator[bool]:
    """Hold the run lock of ``flow`` on ``config``'s instance; yields False when ``overlap`` is
    ``skip`` and another run holds it (nothing is locked then)."""
    manager = config.create_lock_manager()
    name = f"stagehouse_run_{flow}"
    try:
        if isinstance(manager, FileLockManager):
            lock = filelock.FileLock(manager.lock_path(name), thread_local=False)
            try:
                lock.acquire(timeout=0 if overlap == "skip" else -1)
            except filelock.Timeout:
                yield False
                return
            try:
                yield True
            finally:
                lock.release()
        elif isinstance(manager, PostgresLockManager):
            with manager.engine.connect() as conn:
                lock_id = PostgresLock(manager.lock_name(name), conn)._id
                while not conn.exec_driver_sql(f"SELECT pg_catalog.pg_try_advisory_lock({lock_id})").scalar():
                    if overlap == "skip":
                        yield False
                        return
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
                f"lock manager {type(manager).__name__} cannot hold a flow run lock; use FileLockManager or DatabaseLockManager"
            )
    finally:
        manager.dispose()
