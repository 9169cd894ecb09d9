"""Stream query results out of an in-memory DuckDB as Arrow record batches.

DuckDB is our universal reader: its scanners for PostgreSQL, MySQL/MariaDB, SQLite, DuckDB
files, CSV, JSON and Parquet push filters down, read in parallel, and hand back Arrow batches of
a bounded size. The extensions load offline from the ``duckdb-extension-*`` wheels pinned to the
same DuckDB version (a plain ``INSTALL postgres`` would try to download).

Example::

    con = open_duckdb(extensions=["postgres"])
    con.execute("ATTACH 'host=127.0.0.1 dbname=test' AS src (TYPE postgres, READ_ONLY)")
    reader = stream(con, "SELECT * FROM src.public.orders", batch_rows=65_536, on_error=wrap)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import duckdb
import duckdb_extensions
import pyarrow as pa

DUCKDB_MEMORY_LIMIT = "1GB"
# The reader runs Stagehouse's scans and the queries of the project's sync definitions, and
# loads only the extensions a scan names, from the version-pinned ``duckdb-extension-*`` wheels
# in the venv. DuckDB re-checks a signed extension's signature on every LOAD, hashing the whole
# postgres binary, paid by every ``stagehouse run`` process that reads a source; the reader
# skips that check. Private databases (``open_duckdb``: file scans, federated
# queries) keep it.
READER_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "memory_limit": DUCKDB_MEMORY_LIMIT,
    "allow_unsigned_extensions": True,
}
_reader: duckdb.DuckDBPyConnection | None = None  # the process's reader database, once opened
_reader_lock = threading.Lock()
_kept_aliases: set[str] = set()  # sources attached to the shared reader for good (kept_attachment)
_kept_lock = threading.Lock()


def load_extensions(con, extensions: Iterable[str]) -> None:
    """Load DuckDB extensions into ``con`` from their wheels (never from the network)."""
    for name in extensions:
        duckdb_extensions.import_extension(name, con=con)
        con.execute(f"LOAD {name}")


def open_duckdb(extensions: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB with the named extensions loaded from their wheels."""
    con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT})
    load_extensions(con, extensions)
    return con


def reader_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to this process's one in-memory reader DuckDB.

    Loading an extension (``LOAD postgres``) into a fresh database is most of a small
    incremental read; one that has it loaded answers at once. So source reads share one
    database per process, each through its own connection (usable from its own thread) and its
    own ATTACH alias: attached catalogs belong to the database, its connections all see them.

        con = reader_connection()
        con.execute("ATTACH '…' AS src_1f2e (TYPE postgres, READ_ONLY)")
    """
    global _reader
    with _reader_lock:
        if _reader is None:
            _reader = duckdb.connect(config=READER_CONFIG)
        return _reader.cursor()


def kept_attachment(plan: DuckDBScan) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A reader connection and the alias under which ``plan``'s source stays attached to the
    process's reader, for plans that read through a pass-through query (``postgres_query``).

    Attaching a server costs a login and the extension's set-up, most of a small delta read;
    a kept attachment costs it once per process. Each query still runs in a transaction (and
    snapshot) of its own, and the extension reconnects when the server dropped its connection.
    Plans that read the attached catalog (``alias.schema.table``) attach afresh instead: the
    extension caches a catalog, and a column added in the source would go unseen.
    """
    key = hashlib.sha256(plan.attach_sql("_").encode()).hexdigest()[:16]  # the ATTACH holds the password
    alias = f"kept_{key}"
    con = reader_connection()
    with _kept_lock:
        if alias in _kept_aliases and plan.check is not None:
            try:
                plan.check()  # attach() runs it for a plan attached now
            except BaseException:
                con.close()
                raise
        if alias not in _kept_aliases:
            try:
                plan.attach(con, alias)
            except BaseException:
                con.close()
                raise
            _kept_aliases.add(alias)
    return con, alias


@dataclass(frozen=True)
class DuckDBScan:
    """How DuckDB reads a source in place: extensions, an ATTACH, and a SELECT over the alias.

    A DuckDB table store can run the plan inside its own connection
    (``CREATE TABLE t AS <relation>``), so rows never leave DuckDB; any other consumer gets an
    Arrow stream from a private DuckDB (``SqlConnection.read``).
    """

    extensions: tuple[str, ...]
    attach_sql: Callable[[str], str]
    relation: Callable[[str], str]
    on_attach_error: Callable[[Exception], Exception]
    on_error: Callable[[BaseException], Exception]  # a driver error (DBAPIError.orig is a BaseException)
    use_catalog: bool = False
    passthrough: bool = False  # the relation is a pass-through query: it never reads the attached catalog
    check: Callable[[], None] | None = None  # refuses rows the scan would read wrongly (MySQL zero dates)

    def attach(self, con, alias: str) -> None:
        """Run the plan's check, load the extensions and attach the source as ``alias`` (read-only)."""
        if self.check is not None:
            self.check()
        try:
            load_extensions(con, self.extensions)
            con.execute(self.attach_sql(alias))
            if self.use_catalog:
                con.execute(f"USE {alias}")
        except duckdb.Error as exc:
            raise self.on_attach_error(exc) from exc


def stream(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    batch_rows: int,
    on_error: Callable[[Exception], Exception],
    params: list | None = None,
    release: Callable[[], None] | None = None,
) -> pa.RecordBatchReader:
    """Run ``sql`` and return its rows as a RecordBatchReader that owns ``con``.

    Binding errors (unknown table, bad column) raise at once; errors found while reading
    (a bad value at row 300,000) raise while iterating. Both go through ``on_error``, which
    turns DuckDB's message into a Stagehouse error naming the source. When the rows are read
    or reading fails, ``release`` runs (default: close ``con``).
    """
    release = release or con.close
    try:
        inner = con.execute(sql, params or []).to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        release()
        raise on_error(exc) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from inner
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise on_error(exc) from exc
        finally:
            release()

    return pa.RecordBatchReader.from_batches(inner.schema, batches())
