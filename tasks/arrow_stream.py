"""Let a task return a stream of Arrow batches as a table: pipedag writes it with the bulk path.

pipedag materializes a returned DataFrame whole (a polars frame is even converted to pandas
first). A task that returns ``Table(ArrowStream(reader), name)`` instead has its batches written
straight into the stage's transaction schema by ``store_writers``: no frame in memory, no extra
copy, and the table still commits with the stage's schema swap.

Example::

    @materialize(version="1")
    def events():
        return Table(ArrowStream(reader, source="connection 'api', object 'events'"), "events")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa
from pydiverse.pipedag import Table
from pydiverse.pipedag.backend.table.sql.sql import SQLTableStore
from pydiverse.pipedag.materialize.table_hook_base import CanMatResult, CanRetResult, TableHook

from connectors.duckdb_scan import DuckDBScan
from connectors.errors import StagehouseError
from tasks import progress
from tasks.errors import StoreWriteError
from tasks.keys import check_unique
from tasks.merge import combined_rows, newest_per_key
from tasks.store_writers import write_stream


@dataclass(frozen=True)
class MergeSpec:
    """How new rows join a committed table: ``append`` or ``merge`` by ``key``.

    ``base`` is the committed table (None on the first run), ``cursor`` picks the
    newest row per key, ``deleted_column`` marks rows to remove, ``on_conflict`` is ``fail`` or
    ``variant`` for incompatible column types.
    """

    mode: str
    base: sa.Table | None
    key: list[str] | None = None
    cursor: str | None = None
    deleted_column: str | None = None
    on_conflict: str = "fail"


class ArrowStream:
    """A one-shot stream of record batches, where it comes from, and a key to check after loading.

    ``reader`` may be a factory, so a store that does not need the stream never opens it: with
    ``scan`` set, a DuckDB store reads the source in place instead (``store_writers``).
    ``unique_key`` is checked in the database after the write, for stores where pipedag cannot
    keep a physical primary key (see ``tasks.keys``). With ``merge``, the stream holds only new
    rows, combined with the committed table inside the store (``tasks.merge``).
    """

    def __init__(
        self,
        reader: pa.RecordBatchReader | Callable[[], pa.RecordBatchReader],
        source: str,
        unique_key: list[str] | None = None,
        scan: DuckDBScan | None = None,
        merge: MergeSpec | None = None,
    ) -> None:
        self.reader = reader
        self.source = source
        self.unique_key = unique_key
        self.scan = scan
        self.merge = merge
        self.rows = 0
        self.failure: BaseException | None = None

    def open(self) -> pa.RecordBatchReader:
        """The reader; opened only now when it was given as a factory."""
        return self.reader() if callable(self.reader) else self.reader

    def counted(self, task: str) -> pa.RecordBatchReader:
        """The same stream, counting rows, reporting progress and keeping the source's own error.

        The database that consumes the stream wraps a Python exception in its own error type;
        keeping the original lets us re-raise the Stagehouse error that names the source.
        """

        reader = self.open()

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in reader:
                    self.rows += batch.num_rows
                    progress.report(task, self.rows)
                    yield batch
            except BaseException as exc:
                self.failure = exc
                raise

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


@SQLTableStore.register_table()
class ArrowStreamTableHook(TableHook[SQLTableStore]):
    """Materializes ``ArrowStream`` objects; reading back goes through pipedag's usual hooks."""

    @classmethod
    def can_materialize(cls, tbl: Table) -> CanMatResult:
        return CanMatResult.new(isinstance(tbl.obj, ArrowStream))

    @classmethod
    def can_retrieve(cls, type_) -> CanRetResult:
        return CanRetResult.NO

    @classmethod
    def materialize(cls, store: SQLTableStore, table: Table, stage_name: str, without_config_context: bool = False):
        stream: ArrowStream = table.obj
        schema = store.get_schema(stage_name)
        try:
            if stream.merge is None:
                write_stream(store.engine, schema.get(), table.name, lambda: stream.counted(table.name), scan=stream.scan)
            else:
                cls._write_merged(store.engine, schema.get(), table.name, stream)
        except StagehouseError:
            raise
        except Exception as exc:
            if isinstance(stream.failure, StagehouseError):
                raise stream.failure from exc
            problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreWriteError(table.name, f"writing rows from {stream.source} failed: {problem}") from exc
        if stream.unique_key:
            check_unique(store.engine, schema.get(), table.name, stream.unique_key)
        store.add_indexes_and_set_nullable(table, schema)

    @classmethod
    def _write_merged(cls, engine: sa.Engine, schema: str, name: str, stream: ArrowStream) -> None:
        """Land the new rows beside the target, then build the target from committed + new rows."""
        spec = stream.merge
        metadata = sa.MetaData()
        delta_name, newest_name = f"{name}__delta", f"{name}__newest"
        with engine.begin() as conn:
            for leftover in (delta_name, newest_name):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {_qualified(engine, schema, leftover)}"))
        reader = None if stream.scan is not None and engine.dialect.name == "duckdb" else stream.counted(name)
        if reader is not None and not reader.schema.names:
            cls._keep_committed(engine, schema, name, spec)
            return
        write_stream(engine, schema, delta_name, lambda: reader or stream.counted(name), scan=stream.scan)
        delta = sa.Table(delta_name, metadata, schema=schema, autoload_with=engine)
        with engine.begin() as conn:
            if spec.mode == "merge" and spec.cursor:
                newest = newest_per_key(delta, spec.key, spec.cursor)
                conn.execute(sa.text(f"CREATE TABLE {_qualified(engine, schema, newest_name)} AS {_sql(engine, newest)}"))
        if spec.mode == "merge" and spec.cursor:
            delta = sa.Table(newest_name, metadata, schema=schema, autoload_with=engine)
        rows = combined_rows(
            engine, spec.base, delta, name, mode=spec.mode, key=spec.key, deleted_column=spec.deleted_column, on_conflict=spec.on_conflict
        )
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {_qualified(engine, schema, name)} AS {_sql(engine, rows)}"))
            for helper in (delta_name, newest_name):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {_qualified(engine, schema, helper)}"))

    @classmethod
    def _keep_committed(cls, engine: sa.Engine, schema: str, name: str, spec: MergeSpec) -> None:
        """No new rows and no columns (an API that returned nothing): the table stays as committed."""
        if spec.base is None:
            raise StoreWriteError(name, "the source returned no records and no columns: nothing to create")
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {_qualified(engine, schema, name)} AS {_sql(engine, sa.select(spec.base))}"))

    @classmethod
    def retrieve(cls, *args, **kwargs):
        raise NotImplementedError("ArrowStream tables are read back through pipedag's SQL, polars or pandas hooks")


def _qualified(engine: sa.Engine, schema: str, name: str) -> str:
    quote = engine.dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(name)}"


def _sql(engine: sa.Engine, statement: sa.Executable) -> str:
    """``statement`` as SQL text for ``engine``, values inlined (run inside a CREATE TABLE AS)."""
    return str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
