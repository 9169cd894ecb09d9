"""Run history: every run of a flow, its tasks and its log lines, kept in the table store.

Three tables in schema ``stagehouse_meta`` (no stage's schema swap touches it): ``runs`` (one row
per run: flow, instance, selected stages, trigger, start, end, status, error), ``run_tasks`` (per
task: state, rows written, seconds, error) and ``run_logs`` (the run's log lines). A run is
written as RUNNING when it starts, so a run that is killed stays visible: the next run of the
same flow (which holds the flow's run lock, so no other run is alive) marks it KILLED. Until then,
a RUNNING run started on this host whose process is gone reads as KILLED.

Imports nothing of pipedag: ``stagehouse run --due`` reads it before deciding to run anything.

Example::

    with RunHistory.reading("local") as history:    # HistoryUnavailableError while a run holds a DuckDB store
        history.runs("nycflights", limit=5)          # newest first
        history.logs(run_id)
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.run_notes import StoreHeldError, reading_store
from stagehouse.connectors.settings import default_instance, store_url
from stagehouse.connectors.sql.described import stored_tables
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.duckdb_file import duckdb_file
from stagehouse.connectors.sql.metadata import META_SCHEMA

STATUSES = ("RUNNING", "SUCCESS", "FAILED", "SKIPPED", "KILLED")
ENDED_UNREPORTED = "the run ended without reporting (killed or crashed)"

_metadata = sa.MetaData(schema=META_SCHEMA)
RUNS = sa.Table(
    "runs",
    _metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("flow", sa.Text, nullable=False),
    sa.Column("instance", sa.Text, nullable=False),
    sa.Column("stages", sa.Text),
    sa.Column("run_trigger", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("host", sa.Text),
    sa.Column("pid", sa.Integer),
)
RUN_TASKS = sa.Table(
    "run_tasks",
    _metadata,
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("rows_written", sa.BigInteger),
    sa.Column("seconds", sa.Float),
    sa.Column("error", sa.Text),
)
RUN_LOGS = sa.Table(
    "run_logs",
    _metadata,
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)


def as_seen(run: dict[str, Any]) -> dict[str, Any]:
    """``run`` as it stands: RUNNING, but started on this host by a process that is gone, is
    KILLED (the history says so only once the flow's next run marks it)."""
    if run["status"] == "RUNNING" and run["host"] == socket.gethostname() and run["pid"] and not _alive(run["pid"]):
        return {**run, "status": "KILLED", "error": ENDED_UNREPORTED}
    return run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class HistoryUnavailableError(StagehouseError):
    """The store holding the run history cannot be opened now."""


class AmbiguousRunIdError(StagehouseError):
    """A run id prefix matches more than one run."""

    def __init__(self, prefix: str, matches: list[str]) -> None:
        shown = ", ".join(matches[:3]) + (", …" if len(matches) > 3 else "")
        super().__init__(
            f"run id '{prefix}' matches {len(matches)} runs ({shown}); give more of its digits",
            prefix=prefix,
            matches=matches,
        )


def new_run_id() -> str:
    """A fresh run id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class LogLine:
    """One line of a run's log."""

    at: dt.datetime
    level: str
    message: str


class RunHistory:
    """Reads and writes the run history of one table store."""

    def __init__(self, engine: sa.Engine, instance: str) -> None:
        self.engine = engine
        self.instance = instance
        self._ready = False

    @classmethod
    @contextmanager
    def reading(cls, instance: str | None = None) -> Iterator[RunHistory]:
        """The history in ``instance``'s table store (pipedag.yaml found as usual), for a read from
        outside a run: on a DuckDB store under the store's run lock, refused at once while a run
        holds it (opening the file then would fail that run's next connection)."""
        name = instance or default_instance()
        url = store_url(name)
        path = duckdb_file(url)

        def refused(held: StoreHeldError) -> HistoryUnavailableError:
            return HistoryUnavailableError(
                f"instance '{name}': cannot read the run history now: {held}", instance=name, run=held.run
            )

        with nullcontext() if path is None else reading_store(path, refused):
            history = cls(sa.create_engine(url), name)
            try:
                yield history
            finally:
                history.close()

    def close(self) -> None:
        self.engine.dispose()

    def _exists(self) -> bool:
        """True when the history tables exist (False too when the store was never created)."""
        query = sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = 'runs'")
        database = self.engine.url.database
        if dialect_of(self.engine).capabilities.file_database and database and not Path(database).exists():
            return False
        try:
            with self.engine.connect() as conn:
                return conn.execute(query, {"s": META_SCHEMA}).first() is not None
        except sa.exc.DBAPIError as exc:
            if "does not exist" in str(exc.orig):
                return False
            raise HistoryUnavailableError(
                f"instance '{self.instance}': cannot read the run history ({first_line(exc)}); a DuckDB store is "
                "open to one process at a time, so wait for the running flow to end",
                instance=self.instance,
            ) from exc

    def ensure(self) -> None:
        """Create the schema and tables if missing (idempotent)."""
        if self._ready:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(META_SCHEMA, if_not_exists=True))
            present = stored_tables(conn, META_SCHEMA)  # one catalog query, not one per table
            missing = [table for table in _metadata.sorted_tables if table.name not in present]
            _metadata.create_all(conn, tables=missing, checkfirst=False)
        self._ready = True

    def start(self, flow: str, stages: Sequence[str], trigger: str, run_id: str | None = None) -> str:
        """Record a RUNNING run (and mark earlier runs of ``flow`` still RUNNING as KILLED:
        call with the flow's run lock held); returns its run id (``run_id``, else a new one)."""
        self.ensure()
        run_id = run_id or new_run_id()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(RUNS)
                .where(RUNS.c.flow == flow, RUNS.c.instance == self.instance, RUNS.c.status == "RUNNING")
                .values(status="KILLED", error=ENDED_UNREPORTED)
            )
            conn.execute(
                sa.insert(RUNS).values(
                    run_id=run_id,
                    flow=flow,
                    instance=self.instance,
                    stages=",".join(stages) or None,
                    run_trigger=trigger,
                    started_at=now(),
                    status="RUNNING",
                    host=socket.gethostname(),
                    pid=os.getpid(),
                )
            )
        return run_id

    def finish(
        self, run_id: str, status: str, error: str | None, tasks: Sequence[dict[str, Any]], logs: Sequence[LogLine]
    ) -> None:
        """Record how a run ended, its tasks and its log lines, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(RUNS).where(RUNS.c.run_id == run_id).values(status=status, error=error, ended_at=now())
            )
            if tasks:
                conn.execute(sa.insert(RUN_TASKS), [dict(task, run_id=run_id) for task in tasks])
            if logs:
                conn.execute(
                    sa.insert(RUN_LOGS),
                    [
                        {
                            "run_id": run_id,
                            "seq": seq,
                            "logged_at": line.at,
                            "level": line.level,
                            "message": line.message,
                        }
                        for seq, line in enumerate(logs)
                    ],
                )

    def record_skip(self, flow: str, stages: Sequence[str], trigger: str, reason: str) -> str:
        """A run that did not start because another run of the flow was in progress."""
        self.ensure()
        run_id = new_run_id()
        at = now()
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(RUNS).values(
                    run_id=run_id,
                    flow=flow,
                    instance=self.instance,
                    stages=",".join(stages) or None,
                    run_trigger=trigger,
                    started_at=at,
                    ended_at=at,
                    status="SKIPPED",
                    error=reason,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                )
            )
        return run_id

    def running(self, flow: str) -> dict[str, Any] | None:
        """The newest run of ``flow`` still RUNNING on this instance, or None."""
        if not self._exists():
            return None
        query = (
            sa.select(RUNS)
            .where(RUNS.c.instance == self.instance, RUNS.c.flow == flow, RUNS.c.status == "RUNNING")
            .order_by(RUNS.c.started_at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).mappings().first()
        return dict(found) if found is not None else None

    def runs(self, flow: str | None = None, *, limit: int | None = 20) -> list[dict[str, Any]]:
        """Runs on this instance, newest first (of ``flow`` when given)."""
        if not self._exists():
            return []
        query = sa.select(RUNS).where(RUNS.c.instance == self.instance).order_by(RUNS.c.started_at.desc())
        if flow is not None:
            query = query.where(RUNS.c.flow == flow)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [as_seen(dict(r)) for r in conn.execute(query).mappings()]

    def full_run_id(self, run_id: str, conn: sa.Connection) -> str:
        """``run_id`` itself, or the one run id it is the start of (``3f2a`` -> ``3f2a9c01b7de``),
        as ``git`` takes a commit; a prefix of several runs raises ``AmbiguousRunIdError``."""
        if conn.execute(sa.select(RUNS.c.run_id).where(RUNS.c.run_id == run_id)).first() is not None:
            return run_id
        query = (
            sa.select(RUNS.c.run_id)
            .where(RUNS.c.run_id.startswith(run_id, autoescape=True))
            .order_by(RUNS.c.started_at.desc())
            .limit(11)
        )
        matches = list(conn.execute(query).scalars())
        if len(matches) > 1:
            raise AmbiguousRunIdError(run_id, matches)
        return matches[0] if matches else run_id

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run with its tasks (``tasks``), or None; ``run_id`` may be a prefix of one run's id."""
        if not self._exists():
            return None
        with self.engine.connect() as conn:
            run_id = self.full_run_id(run_id, conn)
            found = conn.execute(sa.select(RUNS).where(RUNS.c.run_id == run_id)).mappings().first()
            if found is None:
                return None
            tasks = conn.execute(sa.select(RUN_TASKS).where(RUN_TASKS.c.run_id == run_id)).mappings().all()
        return as_seen(dict(found, tasks=[dict(t) for t in tasks]))

    def logs(self, run_id: str) -> list[LogLine]:
        """The log lines of a run, in order; ``run_id`` may be a prefix of one run's id."""
        if not self._exists():
            return []
        with self.engine.connect() as conn:
            run_id = self.full_run_id(run_id, conn)
            query = (
                sa.select(RUN_LOGS.c.logged_at, RUN_LOGS.c.level, RUN_LOGS.c.message)
                .where(RUN_LOGS.c.run_id == run_id)
                .order_by(RUN_LOGS.c.seq)
            )
            return [LogLine(*row) for row in conn.execute(query)]

    def last_starts(self) -> dict[str, dt.datetime]:
        """Flow -> start of its latest run that was not skipped, on this instance (one query)."""
        if not self._exists():
            return {}
        query = (
            sa.select(RUNS.c.flow, sa.func.max(RUNS.c.started_at))
            .where(RUNS.c.instance == self.instance, RUNS.c.status != "SKIPPED")
            .group_by(RUNS.c.flow)
        )
        with self.engine.connect() as conn:
            return {flow: _aware(started) for flow, started in conn.execute(query)}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
