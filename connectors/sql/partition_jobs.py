"""The partitions of a partitioned sync as jobs, each copying one key range into the store on its own.

A job is small and picklable (how to reopen the source connection, the range, the store's URL,
the target table), so it runs where it is sent: on a ``dask.distributed`` worker (the
``cluster`` instance), ``run_jobs`` submits the K jobs to the cluster from the sync task
(``distributed.worker_client``, which takes the waiting task out of its worker's thread pool),
and the ranges run on several workers; anywhere else each job runs in a thread of the task's
process. Each job opens its own source and store connections, copies its range and commits it
into the table the store writer created in the stage's uncommitted schema, so a failed job leaves
nothing readers see. ``run_jobs`` waits for every job (none is left writing when the task
ends) and raises the first failed partition's ``PartitionError``.

Example::

    jobs = [CopyRange(reopen, label, "public.events", None, part, i, 4, store_url, '"raw__tmp"."events"')
            for i, part in enumerate(ranges)]
    for done in run_jobs(jobs):
        print(done.line())   # connection 'shop', table 'public.events': partition 2/4 (id 250001..500000) on ...
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.sql.cluster_worker import current_worker, distributed_module
from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.connectors.sql.partitioned import KeyRange

logger = logging.getLogger(__name__)


class PartitionError(StagehouseError):
    """One partition of a partitioned sync failed; names the source, the partition, its range and
    where it ran. Raised by the job itself, so it crosses back from a worker whole."""

    def __init__(self, source: str, partition: int, partitions: int, key_range: str, where: str, problem: str) -> None:
        super().__init__(
            f"{source}: partition {partition}/{partitions} ({key_range}) failed on {where}: {problem}; nothing of "
            "the stage was committed: fix the cause and run the flow again",
            source=source,
            partition=partition,
            partitions=partitions,
            key_range=key_range,
            where=where,
            problem=problem,
        )


@dataclass(frozen=True)
class RangeDone:
    """What a job reports back: its rows, where it ran and how long it took."""

    source: str
    partition: int
    partitions: int
    key_range: str
    where: str
    rows: int
    seconds: float

    def line(self) -> str:
        return (
            f"{self.source}: partition {self.partition}/{self.partitions} ({self.key_range}) on {self.where}: "
            f"{self.rows} rows in {self.seconds:.1f} s"
        )


def where_running() -> str:
    """``worker tcp://10.0.0.5:40123 (pid 812)`` on a Dask worker, ``thread partition-2 (pid 812)`` elsewhere."""
    worker = current_worker()
    place = f"thread {threading.current_thread().name}" if worker is None else f"worker {worker.address}"
    return f"{place} (pid {os.getpid()})"


@dataclass(frozen=True)
class RangeJob:
    """One key range of ``table`` (or ``query``) into the store table ``schema.table`` (``target``)."""

    reopen: Callable[[], Any]  # the source connection, opened where the job runs (placeholders resolved there)
    source: str  # "connection 'shop', table 'public.events'"
    table: str | None
    query: str | None
    part: KeyRange
    index: int  # 0-based
    partitions: int
    store_url: str  # libpq URI of the store (postgresql://…)

    def __call__(self) -> RangeDone:
        where, started = where_running(), time.perf_counter()
        try:
            conn = self.reopen()
            try:
                rows = self.copy(conn)
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 (sent back as this partition's one line)
            problem = first_line(exc)
            raise PartitionError(
                self.source, self.index + 1, self.partitions, self.part.label(), where, problem
            ) from None
        return RangeDone(
            self.source,
            self.index + 1,
            self.partitions,
            self.part.label(),
            where,
            rows,
            time.perf_counter() - started,
        )

    def copy(self, conn: Any) -> int:
        raise NotImplementedError

    def claiming(self, into: str, dialect: sa.Dialect) -> list[str]:
        """What the job's own transaction runs first: a lock on this range of ``into``, then the
        DELETE of the range's rows. A job the cluster runs again (its worker died after the
        commit, before it reported) then replaces its rows instead of doubling them, and a copy
        that still runs beside it (a worker that froze but did not die) makes the retry wait for
        its commit and then replaces those rows too. The target holds this load's rows only, so
        the key range alone picks them."""
        key_only = KeyRange(self.part.column, self.part.low, self.part.high)
        condition = key_only.condition().compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        lock = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"{into} {condition}", 0)))
        return [
            str(lock.compile(dialect=dialect, compile_kwargs={"literal_binds": True})),
            f"DELETE FROM {into} WHERE {condition}",
        ]


@dataclass(frozen=True)
class CopyRange(RangeJob):
    """A PostgreSQL source's range as a binary COPY into a PostgreSQL store (``connectors.sql.pg_copy``)."""

    into: str  # the store table, quoted SQL name

    def copy(self, conn: Any) -> int:
        import psycopg2
        from sqlalchemy.dialects import postgresql

        plan = conn.binary_copy(query=conn.delta_query(self.table, self.query, self.part))
        store = psycopg2.connect(self.store_url)
        try:
            with store.cursor() as cur:
                for statement in self.claiming(self.into, postgresql.dialect()):
                    cur.execute(statement)
            rows = plan.copy_into(store, self.into)
            store.commit()
            return rows
        finally:
            store.close()  # after an error, without the commit: nothing of it stays


@dataclass(frozen=True)
class AppendRange(RangeJob):
    """A range read as Arrow batches (one at a time), cast to the created table's schema and
    appended through the store dialect's bulk connection (ADBC's binary COPY on PostgreSQL)."""

    target_schema: str
    target_table: str
    schema: pa.Schema  # the Arrow schema the store table was created from

    def copy(self, conn: Any) -> int:
        from stagehouse.connectors.sql.dialects import dialect_of

        schema = self.schema
        reader = conn.read(self.table, query=self.query, after=self.part)
        counted = [0]

        def batches():
            for batch in reader:
                counted[0] += batch.num_rows
                yield batch if batch.schema.equals(schema) else batch.cast(schema)

        engine = sa.create_engine(self.store_url)  # no connection of its own: the bulk connection's URL
        try:
            with dialect_of(engine).bulk_connection(engine) as store, store.cursor() as cur:
                for statement in self.claiming(
                    quoted_name(engine, self.target_schema, self.target_table), engine.dialect
                ):
                    cur.execute(statement)
                stream = pa.RecordBatchReader.from_batches(schema, batches())
                cur.adbc_ingest(self.target_table, stream, mode="append", db_schema_name=self.target_schema)
                store.commit()
        finally:
            reader.close()
            engine.dispose()
        return counted[0]


def on_cluster() -> bool:
    """Whether this thread runs a task of a ``dask.distributed`` worker."""
    return current_worker() is not None


def run_jobs(jobs: Sequence[RangeJob]) -> list[RangeDone]:
    """Run the jobs at once — on the cluster's workers from a distributed worker, else in threads —
    wait for all, log a line per partition, and return what each did; raises the first failed
    partition's ``PartitionError``."""
    outcomes = _on_workers(jobs) if on_cluster() else _in_threads(jobs)
    for job, outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, StagehouseError):
            raise outcome
        if isinstance(outcome, BaseException):  # the cluster's own (a job's workers kept dying: KilledWorker)
            label = job.part.label()
            raise PartitionError(job.source, job.index + 1, job.partitions, label, "the cluster", first_line(outcome))
    done = [o for o in outcomes if isinstance(o, RangeDone)]
    for one in done:
        logger.info(one.line())
    return done


def _in_threads(jobs: Sequence[RangeJob]) -> list[RangeDone | BaseException]:
    def run(job: RangeJob) -> RangeDone | BaseException:
        threading.current_thread().name = f"partition-{job.index + 1}"
        try:
            return job()
        except BaseException as exc:  # noqa: BLE001 (each partition's outcome; the caller raises the first)
            return exc

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def _on_workers(jobs: Sequence[RangeJob]) -> list[RangeDone | BaseException]:
    distributed = distributed_module()

    run = uuid.uuid4().hex[:12]  # unique keys: a retried sync never meets an earlier run's partitions
    with distributed.worker_client() as client:
        # the scheduler would start short unknown tasks where their parent runs; spread them instead
        # (any worker may still take one, e.g. when its worker is lost)
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        futures = [
            client.submit(
                job,
                pure=False,
                key=f"stagehouse-partition-{job.index + 1}-of-{job.partitions}-{run}",
                workers=[workers[job.index % len(workers)]],
                allow_other_workers=True,
            )
            for job in jobs
        ]
        distributed.wait(futures)
        outcomes: list[RangeDone | BaseException] = [
            f.exception() if f.status == "error" else f.result() for f in futures
        ]
        client.cancel(futures)
    return outcomes
