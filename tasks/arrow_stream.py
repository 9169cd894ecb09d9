"""Let a task return a stream of Arrow batches as a table: pipedag writes it with the bulk path.

pipedag materializes a returned DataFrame whole (a polars frame is even converted to pandas
first). A task that returns ``Table(ArrowStream(reader), name)`` instead has its batches written
straight into the stage's transaction schema by the store's adapter (``tasks.stores``): no frame in memory, no extra
copy, and the table still commits with the stage's schema swap.

Example::

    @materialize(version="1")
    def events():
        return Table(ArrowStream(reader, source="connection 'api', object 'events'"), "events")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa
import sqlalchemy as sa
from pydiverse.pipedag import Table
from pydiverse.pipedag.backend.table.sql.sql import SQLTableStore
from pydiverse.pipedag.materialize.table_hook_base import CanMatResult, CanRetResult, TableHook

from stagehouse.connectors.duckdb_scan import DuckDBScan
from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.files.csv_checks import BadRows
from stagehouse.connectors.sql.described import columns_of
from stagehouse.connectors.sync_source import BinaryCopy, RangeAppends
from stagehouse.tasks import progress
from stagehouse.tasks.errors import StoreWriteError
from stagehouse.tasks.keys import check_unique
from stagehouse.tasks.stores.base import InPlace
from stagehouse.tasks.stores.engine import store_of
from stagehouse.tasks.sync_columns import check_named_columns


class ArrowStream:
    """A one-shot stream of record batches, where it comes from, and a key to check after loading.

    ``reader`` may be a factory, so a store that does not need the stream never opens it: with
    ``scan`` set, a DuckDB store reads the source in place instead (``tasks.stores.duckdb``).
    With ``copy`` set, a PostgreSQL store takes a PostgreSQL source's binary COPY as is; with
    ``appends``, it has a partitioned read's ranges appended by jobs on a cluster's workers.
    ``unique_key`` is checked in the database after the write, for stores where pipedag cannot
    keep a physical primary key (see ``tasks.keys``). ``bad_rows`` counts the rows a file
    source skipped (``csv.on_bad_rows: skip``), for the run report. ``written`` is the rows
    written once known (a DuckDB store's in-place scan does not count them).
    """

    def __init__(
        self,
        reader: pa.RecordBatchReader | Callable[[], pa.RecordBatchReader],
        source: str,
        unique_key: list[str] | None = None,
        scan: DuckDBScan | None = None,
        bad_rows: BadRows | None = None,
        copy: BinaryCopy | None = None,
        appends: RangeAppends | None = None,
    ) -> None:
        self.reader = reader
        self.source = source
        self.unique_key = unique_key
        self.scan = scan
        self.copy = copy
        self.appends = appends
        self.bad_rows = bad_rows
        self.rows = 0
        self.written: int | None = None
        self.failure: BaseException | None = None

    def open(self) -> pa.RecordBatchReader:
        """The reader; a factory is called once, on first use."""
        if callable(self.reader):
            self.reader = self.reader()
        return self.reader

    def counted(self, task: str) -> pa.RecordBatchReader:
        """The same stream, counting rows, reporting progress and keeping the source's own error.

        The database that consumes the stream wraps a Python exception in its own error type;
        keeping the original lets us re-raise the Stagehouse error that names the source.
        """

        reader = self.open()
        task = progress.task_name(task)  # here, on the task's thread: the batches are pulled on the database's

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in reader:
                    self.rows += batch.num_rows
                    progress.report(task, self.rows)
                    yield batch
            except BaseException as exc:
                self.failure = exc
                raise
            self.written = self.rows

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


class WriteOnlyTableHook(TableHook[SQLTableStore]):
    """Base of the hooks for objects Stagehouse writes itself (``materializes``); reading them
    back goes through pipedag's usual SQL, polars and pandas hooks."""

    materializes: type

    @classmethod
    def can_materialize(cls, tbl: Table) -> CanMatResult:
        return CanMatResult.new(isinstance(tbl.obj, cls.materializes))

    @classmethod
    def can_retrieve(cls, type_) -> CanRetResult:
        return CanRetResult.NO

    @classmethod
    def retrieve(cls, *args, **kwargs):
        raise NotImplementedError(f"{cls.materializes.__name__} tables are read back through pipedag's own hooks")


@SQLTableStore.register_table()
class ArrowStreamTableHook(WriteOnlyTableHook):
    """Writes ``ArrowStream`` objects with the store's bulk path."""

    materializes = ArrowStream

    @classmethod
    def materialize(cls, store: SQLTableStore, table: Table, stage_name: str, without_config_context: bool = False):
        stream: ArrowStream = table.obj
        schema = store.get_schema(stage_name)
        land(store.engine, schema.get(), table.name, stream)
        table.skipped_rows = stream.bad_rows.total if stream.bad_rows is not None else None  # for the run report
        table.written_rows = stream.written  # the run report need not count the table
        if stream.unique_key:
            check_named_columns(
                stream.source, columns_of(store.engine, schema.get(), table.name), key=stream.unique_key
            )
            check_unique(store.engine, schema.get(), table.name, stream.unique_key, source=stream.source)
        store.add_indexes_and_set_nullable(table, schema)


def skipped_rows(value: object) -> int | None:
    """Rows a sync's file source skipped (``csv.on_bad_rows: skip``), from a task's value as the
    runner gets it back (a Table, or a merge/incremental sync's view and record); None if none
    were counted."""
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    return getattr(value, "skipped_rows", None)


def written_rows(value: object) -> int | None:
    """Rows a ``Table(ArrowStream(...))`` task wrote in this run, from its value as the runner gets
    it back; None when they were not counted (a cache-valid task, an in-place DuckDB scan)."""
    return getattr(value, "written_rows", None)


def land(engine: sa.Engine, schema: str, name: str, stream: ArrowStream, label: str | None = None) -> None:
    """Write ``stream`` into a new table ``schema.name``; errors name the table and the source."""
    with _write_errors(stream, label or name):
        rows = store_of(engine).write_stream(
            engine,
            schema,
            name,
            lambda: stream.counted(label or name),
            InPlace(stream.scan, stream.copy, stream.appends),
        )
    if rows is not None:
        stream.rows = stream.written = rows
        progress.report(progress.task_name(label or name), rows)


def land_temporary(conn: sa.Connection, name: str, stream: ArrowStream, label: str) -> None:
    """Write ``stream`` into the TEMP table ``name`` of DuckDB connection ``conn``, inside its
    open transaction (``TableStore.land_temporary``); errors as ``land``'s."""
    with _write_errors(stream, label):
        store_of(conn).land_temporary(conn, name, lambda: stream.counted(label))


@contextmanager
def _write_errors(stream: ArrowStream, label: str) -> Iterator[None]:
    """The source's own Stagehouse error, or a StoreWriteError naming the table and the source."""
    try:
        yield
    except StagehouseError:
        raise
    except Exception as exc:
        if isinstance(stream.failure, StagehouseError):
            raise stream.failure from exc
        problem = first_line(str(exc), type(exc).__name__)
        raise StoreWriteError(label, f"writing rows from {stream.source} failed: {problem}") from exc


def compiled(engine: sa.Engine, statement: sa.Executable) -> str:
    """``statement`` as SQL text for ``engine``, values inlined (run inside a CREATE TABLE AS)."""
    assert isinstance(statement, sa.ClauseElement)  # every statement is one
    return str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
