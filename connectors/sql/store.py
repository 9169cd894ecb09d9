"""The table store as a warehouse client, created on first use the way a run creates it.

In a fresh project ``connect("warehouse")`` comes before any run: the DuckDB file has no folder
yet, the PostgreSQL database does not exist. pipedag makes them at a run's start (the DuckDB
file's folder always; a PostgreSQL database when the table store says
``create_database_if_not_exists``). The client does the same before its first statement, or
says in one line what to do. What each store needs is one entry in ``PREPARE``.

Example::

    wh = connect("warehouse")                        # a StoreConnection; nothing created yet
    wh.write("crm", "contacts", [{"id": 1}], pk="id")  # folder / database made first if missing
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from stagehouse.connectors.errors import StoreInUseError, WarehouseError, first_line
from stagehouse.connectors.run_notes import describe, read_note, store_lock_path
from stagehouse.connectors.settings import WAREHOUSE, StoreSettings
from stagehouse.connectors.sql.changes import ChangeVerbs
from stagehouse.connectors.sql.config import SqlConnectionConfig
from stagehouse.connectors.sql.duckdb_file import duckdb_file, parse_conflict
from stagehouse.connectors.sql.engines import engine_for
from stagehouse.connectors.sql.metadata import MetadataVerbs
from stagehouse.connectors.sql.saved_queries import SavedQueryVerbs
from stagehouse.connectors.sql.source import SqlConnection


class StoreConnection(ChangeVerbs, MetadataVerbs, SavedQueryVerbs, SqlConnection):
    """The instance's table store, named ``warehouse``: the warehouse client. Beyond a SQL
    connection's verbs it has the change log (``ChangeVerbs``) and metadata with ids, descriptions
    (``MetadataVerbs``), saved queries (``SavedQueryVerbs``), and it makes its store exist (as pipedag would) before
    the first statement."""

    def __init__(self, settings: StoreSettings) -> None:
        config = SqlConnectionConfig.model_construct(type="sql", url=settings.url, batch_rows=65_536)
        super().__init__(WAREHOUSE, config, settings.url)
        self.settings = settings

    @cached_property
    def engine(self) -> sa.Engine:
        prepare = PREPARE.get(self.url.get_backend_name())
        if prepare is not None:
            prepare(self)
        engine: sa.Engine = SqlConnection.__dict__["engine"].func(self)  # the cached_property's function
        if (path := duckdb_file(self.url)) is not None:
            sa.event.listen(
                engine, "handle_error", lambda context: self._refuse_if_held(path, context.original_exception)
            )
        return engine

    def _refuse_if_held(self, path: Path, exc: BaseException) -> None:
        """DuckDB's lock conflict on the store file as one line naming the run (or program) holding it."""
        holder = parse_conflict(str(exc))
        if holder is None:
            return
        run = read_note(
            store_lock_path(path)
        )  # a killed run leaves its note: it counts when its process holds the file
        if run is not None and holder.pid in (None, run.get("pid")):
            problem = f"the DuckDB store {path} is held by {describe(run)}; wait for that run to end, then retry"
        else:
            problem = (
                f"the DuckDB store {path} is held by {holder}, not a Stagehouse run; close that program's connection "
                "(a duckdb shell, a notebook), then retry"
            )
        raise StoreInUseError(self.name, self.store_label, problem) from exc

    def database_name(self) -> str:
        """The instance id on every store: PostgreSQL's database is named by it, while a DuckDB
        store's file is ``<instance_id>/db.duckdb`` (its own name, ``db``, tells stores apart)."""
        return self.settings.instance_id or super().database_name()

    @property
    def store_label(self) -> str:
        return f"table store of instance '{self.settings.instance}'"


def _duckdb_folder(store: StoreConnection) -> None:
    """DuckDB creates its file but not the file's folder (pipedag makes the folder on every run)."""
    database = store.url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _postgres_database(store: StoreConnection) -> None:
    """Create the store's database on the server if it is missing and the instance allows it."""
    try:
        with engine_for(store.url).connect():
            return
    except sa.exc.OperationalError as exc:
        refused = exc
    database = store.url.database or ""
    server = sa.create_engine(store.url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            if conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}).first():
                raise WarehouseError(store.name, store.store_label, first_line(refused))
            if not store.settings.create_database_if_not_exists:
                raise WarehouseError(
                    store.name,
                    store.store_label,
                    f"database '{database}' does not exist; run a flow first, or set create_database_if_not_exists: "
                    "true "
                    "under the instance's table_store.args",
                )
            try:
                conn.execute(sa.text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(database)}"))
            except sa.exc.ProgrammingError as exc:  # fine if another client created it meanwhile
                if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}).first():
                    raise WarehouseError(
                        store.name, store.store_label, f"cannot create database '{database}': {first_line(exc)}"
                    ) from exc
    except sa.exc.OperationalError as exc:
        raise WarehouseError(store.name, store.store_label, first_line(exc)) from exc
    finally:
        server.dispose()


PREPARE: dict[str, Callable[[StoreConnection], None]] = {"duckdb": _duckdb_folder, "postgresql": _postgres_database}
