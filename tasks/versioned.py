"""Incremental and merge syncs whose cost follows the change, not the table.

The rows live in a versioned table outside the stage schemas (``stagehouse_versions``), each row
version stamped with the load that wrote it (``_sh_from``) and the load that replaced or deleted
it (``_sh_to``). A load writes only the delta: it closes the replaced versions and inserts the
new ones as load N. The stage's table is a VIEW of the versions visible at load N, and N itself
is a second output of the sync task — both commit in the stage's schema swap, or neither does.

Readers of the committed stage keep seeing load N-1 while load N is written (its rows are not
visible at N-1). A run that fails or is killed leaves load N's rows behind; the next run removes
them first (``_sh_from > N-1``) and reopens what they closed (``_sh_to > N-1``), then tries again.
A schema change (new column, widened type, variant column) rebuilds the versions into a new
generation with the evolution rules of ``tasks.evolution``; the committed view keeps reading the
old generation until the stage commits.

Example::

    state, view = apply_load(engine, "raw", "orders", previous, stream, LoadSpec("merge", ["id"], "updated_at"))
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from pydiverse.pipedag import Table
from pydiverse.pipedag.backend.table.sql.sql import SQLTableStore

from tasks.arrow_stream import ArrowStream, WriteOnlyTableHook, compiled, land, qualified
from tasks.errors import StoreWriteError
from connectors.sql.native import described_table
from tasks.evolution import column_types
from tasks.keys import check_unique
from tasks.merge import combined_rows, newest_per_key, not_deleted

VERSIONS_SCHEMA = "stagehouse_versions"
FROM_LOAD, TO_LOAD = "_sh_from", "_sh_to"


@dataclass(frozen=True)
class LoadState:
    """The committed load number and the generation of the versions table it reads."""

    load: int
    generation: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadState:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class LoadSpec:
    """How new rows join: ``append`` or ``merge`` by ``key`` (newest by ``cursor``), soft deletes."""

    mode: str
    key: list[str] | None = None
    cursor: str | None = None
    deleted_column: str | None = None
    on_conflict: str = "fail"


class VersionedView:
    """A stage table materialized as a VIEW of one load of a versioned table."""

    def __init__(self, select: sa.Select) -> None:
        self.select = select


@SQLTableStore.register_table()
class VersionedViewTableHook(WriteOnlyTableHook):
    """Materializes a ``VersionedView`` as a SQL view in the stage's transaction schema."""

    materializes = VersionedView

    @classmethod
    def materialize(cls, store: SQLTableStore, table: Table, stage_name: str, without_config_context: bool = False):
        schema = store.get_schema(stage_name).get()
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"CREATE VIEW {qualified(store.engine, schema, table.name)} AS {compiled(store.engine, table.obj.select)}"))


def _visible(table: sa.Table, load: int) -> sa.ColumnElement[bool]:
    return sa.and_(table.c[FROM_LOAD] <= load, sa.or_(table.c[TO_LOAD].is_(None), table.c[TO_LOAD] > load))


def _user_columns(table: sa.Table) -> list[sa.Column]:
    return [c for c in table.columns if c.name not in (FROM_LOAD, TO_LOAD)]


def _view(versions: sa.Table, load: int) -> sa.Select:
    """The stage table: the user columns of the versions visible at ``load``."""
    return sa.select(*_user_columns(versions)).where(_visible(versions, load))


class VersionedTable:
    """The versions of one stage table: its generations, helper tables and load operations."""

    def __init__(self, engine: sa.Engine, stage: str, name: str) -> None:
        self.engine, self.name = engine, name
        self.prefix = f"{stage}__{name}"

    def table_name(self, generation: int) -> str:
        return f"{self.prefix}__g{generation}"

    def reflect(self, name: str) -> sa.Table:
        table = described_table(self.engine, VERSIONS_SCHEMA, name)
        if table is None:
            raise StoreWriteError(self.name, f"versions table {VERSIONS_SCHEMA}.{name} is missing from the store")
        return table

    def execute(self, *statements: str | sa.Executable) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement) if isinstance(statement, str) else statement)

    def create_as(self, name: str, select: sa.Executable, key: list[str] | None = None) -> sa.Table:
        """A new table from ``select``; on PostgreSQL indexed on ``key`` and analysed, so that the
        next load's key lookups are index lookups, not nested scans over unanalysed tables."""
        self.execute(f"CREATE TABLE {qualified(self.engine, VERSIONS_SCHEMA, name)} AS {compiled(self.engine, select)}")
        table = self.reflect(name)
        if key and self.engine.dialect.name == "postgresql":
            self.execute(sa.schema.CreateIndex(sa.Index(f"{name}__key", *(table.c[k] for k in key))))
        self.analyze(name)
        return table

    def analyze(self, name: str) -> None:
        """Fresh statistics for the planner (PostgreSQL); DuckDB keeps its own."""
        if self.engine.dialect.name == "postgresql":
            self.execute(f"ANALYZE {qualified(self.engine, VERSIONS_SCHEMA, name)}")

    def drop(self, *names: str) -> None:
        self.execute(*(f"DROP TABLE IF EXISTS {qualified(self.engine, VERSIONS_SCHEMA, n)}" for n in names))

    def prepare(self, keep_generation: int | None) -> None:
        """Create the schema; drop helper tables and every generation but the committed one."""
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.engine.dialect.identifier_preparer.quote(VERSIONS_SCHEMA)}")
        pattern = re.compile(re.escape(self.prefix) + r"__(g\d+|delta|newest|visible)$")
        existing = [t for t in sa.inspect(self.engine).get_table_names(schema=VERSIONS_SCHEMA) if pattern.match(t)]
        self.drop(*(t for t in existing if keep_generation is None or t != self.table_name(keep_generation)))

    def undo_uncommitted(self, versions: sa.Table, committed: int) -> None:
        """Remove what loads after ``committed`` wrote (a failed or killed run), and the versions
        no reader can see any more (closed at or before the committed load)."""
        self.execute(
            sa.delete(versions).where(versions.c[FROM_LOAD] > committed),
            sa.update(versions).where(versions.c[TO_LOAD] > committed).values({TO_LOAD: None}),
            sa.delete(versions).where(versions.c[TO_LOAD] <= committed),
        )


def apply_load(engine: sa.Engine, stage: str, name: str, previous: LoadState | None, stream: ArrowStream, spec: LoadSpec):
    """Write the new rows as the next load; return its state and the SELECT of the stage's view."""
    versioned = VersionedTable(engine, stage, name)
    versioned.prepare(previous.generation if previous else None)
    if stream.scan is None and not stream.open().schema.names:
        if previous is None:
            raise StoreWriteError(name, "the source returned no records and no columns: nothing to create")
        versions = versioned.reflect(versioned.table_name(previous.generation))
        versioned.undo_uncommitted(versions, previous.load)
        return previous, _view(versions, previous.load)  # nothing new (an API that returned nothing)
    delta_name = f"{versioned.prefix}__delta"
    land(engine, VERSIONS_SCHEMA, delta_name, stream, label=name)
    versioned.analyze(delta_name)
    delta = versioned.reflect(delta_name)
    if spec.mode == "merge" and spec.cursor:
        delta = versioned.create_as(f"{versioned.prefix}__newest", newest_per_key(delta, spec.key, spec.cursor))
    elif spec.key:
        check_unique(engine, VERSIONS_SCHEMA, delta.name, spec.key)
    load = previous.load + 1 if previous else 1
    if previous is None:
        generation = 1
        first = sa.select(*delta.columns, sa.literal(load).label(FROM_LOAD), sa.cast(sa.null(), sa.BigInteger).label(TO_LOAD))
        versions = versioned.create_as(versioned.table_name(generation), first.where(not_deleted(delta, spec.deleted_column)), spec.key)
    else:
        versions = versioned.reflect(versioned.table_name(previous.generation))
        versioned.undo_uncommitted(versions, previous.load)
        if _same_columns(engine, versions, delta):
            generation = previous.generation
            _write_in_place(versioned, versions, delta, load, spec)
        else:
            generation = previous.generation + 1
            versions = _rebuild(versioned, versions, delta, previous.load, load, generation, spec)
    versioned.drop(delta_name, f"{versioned.prefix}__newest", f"{versioned.prefix}__visible")
    return LoadState(load, generation), _view(versions, load)


def _same_columns(engine: sa.Engine, versions: sa.Table, delta: sa.Table) -> bool:
    """True when the new rows bring no new column and no changed type (no evolution needed)."""
    known, new = column_types(engine, versions), column_types(engine, delta)
    return all(known.get(column) == kind for column, kind in new.items())


def _write_in_place(versioned: VersionedTable, versions: sa.Table, delta: sa.Table, load: int, spec: LoadSpec) -> None:
    columns = [c.name for c in _user_columns(delta)]
    statements: list[sa.Executable] = []
    if spec.mode == "merge":
        replaced = sa.exists().where(sa.and_(*(delta.c[k] == versions.c[k] for k in spec.key)))
        statements.append(
            sa.update(versions).where(versions.c[TO_LOAD].is_(None), replaced).values({TO_LOAD: load})
        )
    else:
        _check_new_keys(versioned, versions, delta, spec, load - 1)
    rows = sa.select(*(delta.c[c] for c in columns), sa.literal(load)).where(not_deleted(delta, spec.deleted_column))
    statements.append(sa.insert(versions).from_select([*columns, FROM_LOAD], rows))
    versioned.execute(*statements)


def _check_new_keys(versioned: VersionedTable, versions: sa.Table, delta: sa.Table, spec: LoadSpec, committed: int) -> None:
    """An append must not repeat a key that is already there."""
    if not spec.key:
        return
    clash = (
        sa.select(*(delta.c[k] for k in spec.key))
        .where(sa.exists().where(_visible(versions, committed), *(delta.c[k] == versions.c[k] for k in spec.key)))
        .limit(1)
    )
    with versioned.engine.connect() as conn:
        row = conn.execute(clash).mappings().first()
    if row:
        raise StoreWriteError(versioned.name, f"primary key {spec.key} is not unique: {dict(row)} is already there (use mode='merge' for updates)")


def _rebuild(versioned, versions, delta, committed: int, load: int, generation: int, spec: LoadSpec) -> sa.Table:
    """A new generation with evolved columns: the committed rows plus the delta, all as ``load``."""
    visible = versioned.create_as(
        f"{versioned.prefix}__visible", sa.select(*_user_columns(versions)).where(_visible(versions, committed))
    )
    rows = combined_rows(
        versioned.engine, visible, delta, versioned.name,
        mode="merge" if spec.mode == "merge" else "append", key=spec.key, deleted_column=spec.deleted_column, on_conflict=spec.on_conflict,
    ).subquery("combined")
    stamped = sa.select(rows, sa.literal(load).label(FROM_LOAD), sa.cast(sa.null(), sa.BigInteger).label(TO_LOAD))
    return versioned.create_as(versioned.table_name(generation), stamped, spec.key)
