"""The SQL of a load: which versions are visible, how a delta closes and inserts them, and the
load's one-row record with the cursor's high-water mark.

Example::

    sa.select(*user_columns(versions)).where(visible_at(versions, 3))   # the stage's rows at load 3
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stagehouse.connectors.sql.described import native_spec
from stagehouse.tasks.errors import RemovedColumnError, StoreWriteError
from stagehouse.tasks.evolution import VARIANT_SUFFIX, column_types
from stagehouse.tasks.merge import not_deleted, not_loaded_yet
from stagehouse.tasks.sync_columns import check_named_columns
from stagehouse.tasks.versioned.state import FROM_LOAD, HIGH_WATER, STATE, TO_LOAD, CommittedLoad, LoadSpec, LoadState

if TYPE_CHECKING:
    from stagehouse.tasks.versioned.table import VersionedTable


def visible_at(table: sa.FromClause, load: int) -> sa.ColumnElement[bool]:
    return sa.and_(table.c[FROM_LOAD] <= load, sa.or_(table.c[TO_LOAD].is_(None), table.c[TO_LOAD] > load))


def user_columns(table: sa.FromClause) -> list[sa.ColumnElement[Any]]:
    return [c for c in table.columns if c.name not in (FROM_LOAD, TO_LOAD)]


def view_at(versions: sa.Table, load: int) -> sa.Select:
    """The stage table: the user columns of the versions visible at ``load``."""
    return sa.select(*user_columns(versions)).where(visible_at(versions, load))


def past_the_loaded(
    delta: sa.FromClause, committed: sa.Table | None, previous: CommittedLoad | None, spec: LoadSpec
) -> sa.FromClause:
    """An append's new rows without those the committed load holds at its high-water mark
    (``merge.not_loaded_yet``); a merge upserts them again, harmlessly."""
    if spec.mode != "append" or not spec.cursor or previous is None:
        return delta
    assert committed is not None  # a committed load has its versions
    visible = visible_at(committed, previous.state.load)
    if previous.has_mark:
        mark = sa.select(previous.table.c[HIGH_WATER]).scalar_subquery()
    else:
        mark = sa.select(sa.func.max(committed.c[spec.cursor])).where(visible).scalar_subquery()
    loaded = sa.select(*user_columns(committed)).where(visible, committed.c[spec.cursor] == mark)
    return not_loaded_yet(delta, loaded, mark, spec)


def check_columns(
    rows: sa.Table, spec: LoadSpec, source: str, committed: sa.Table | None = None, table: str = ""
) -> None:
    """The key, cursor and deleted_column the sync names are columns of the rows it read; and,
    unless ``spec.on_removed_column`` is ``keep``, every column of the ``committed`` table is too
    (``RemovedColumnError``; a ``<column>__v_text`` variant comes with its column)."""
    check_named_columns(
        source,
        {c.name: native_spec(c.type) for c in rows.c},
        key=spec.key,
        cursor=spec.cursor,
        deleted_column=spec.deleted_column,
    )
    if committed is None or spec.on_removed_column == "keep":
        return
    kept = [c.name for c in user_columns(committed) if not c.name.endswith(VARIANT_SUFFIX)]
    if missing := [name for name in kept if name not in rows.c]:
        raise RemovedColumnError(source, table, missing, [c.name for c in rows.c])


def record_statement(
    versioned: VersionedTable,
    state: LoadState,
    rows: sa.Table | None,
    committed: sa.Table | None,
    previous: CommittedLoad | None,
    spec: LoadSpec,
) -> str:
    """The CREATE TABLE of the load's one-row record: its state and the cursor's high-water mark —
    the greatest cursor of the new rows and the committed mark, computed in the store so it
    keeps the cursor's type. A load committed without a cursor (one was added since) is replaced by
    ``max(cursor)`` of the committed rows."""
    columns: list[sa.ColumnElement] = [sa.cast(sa.literal(state.to_json()), sa.Text).label(STATE)]
    if spec.cursor:
        marks: list[sa.Select] = []
        if rows is not None:
            marks.append(sa.select(sa.func.max(rows.c[spec.cursor]).label(HIGH_WATER)))
        if previous is not None and previous.has_mark:
            marks.append(sa.select(previous.table.c[HIGH_WATER]))
        elif previous is not None:
            assert committed is not None  # a committed load has its versions
            marks.append(
                sa.select(sa.func.max(committed.c[spec.cursor]).label(HIGH_WATER)).where(
                    visible_at(committed, previous.state.load)
                )
            )
        candidates = sa.union_all(*marks).subquery("marks") if len(marks) > 1 else marks[0].subquery("marks")
        columns.append(sa.select(sa.func.max(candidates.c[HIGH_WATER])).scalar_subquery().label(HIGH_WATER))
    return versioned.create_statement(versioned.helper("mark"), sa.select(*columns))


def record_select(versioned: VersionedTable, spec: LoadSpec) -> sa.Select:
    """The SELECT the stage's copy of the load record is made from."""
    return sa.select(versioned.stub(versioned.helper("mark"), STATE, *([HIGH_WATER] if spec.cursor else [])))


def same_columns(versions: sa.Table, delta: sa.FromClause) -> bool:
    """True when the new rows bring no new column and no changed type (no evolution needed)."""
    known, new = column_types(versions), column_types(delta)
    return all(known.get(column) == kind for column, kind in new.items())


def in_place_statements(
    conn: sa.Connection, name: str, versions: sa.Table, delta: sa.FromClause, load: int, spec: LoadSpec
) -> list[sa.Executable]:
    """The statements that close the versions the delta replaces and insert the delta as ``load``
    (an append first checks, on ``conn``, that no new key is there already).

    The close is an ``UPDATE … FROM delta`` join: DuckDB runs the correlated ``EXISTS`` form as a
    scan of every version, many times slower for a small delta.
    """
    columns = [c.name for c in user_columns(delta)]
    statements: list[sa.Executable] = []
    if spec.mode == "merge":
        same_key = [versions.c[k] == delta.c[k] for k in spec.key or []]
        statements.append(
            sa.update(versions)
            .where(versions.c[TO_LOAD].is_(None), *same_key)
            .values({TO_LOAD: sa.literal(load, sa.BigInteger)})
        )
    else:
        _check_new_keys(conn, name, versions, delta, spec, load - 1)
    rows = sa.select(*(delta.c[c] for c in columns), sa.literal(load)).where(not_deleted(delta, spec.deleted_column))
    statements.append(sa.insert(versions).from_select([*columns, FROM_LOAD], rows))
    return statements


def _check_new_keys(
    conn: sa.Connection, name: str, versions: sa.Table, delta: sa.FromClause, spec: LoadSpec, committed: int
) -> None:
    """An append must not repeat a key that is already there."""
    if not spec.key:
        return
    clash = (
        sa.select(*(delta.c[k] for k in spec.key))
        .where(sa.exists().where(visible_at(versions, committed), *(delta.c[k] == versions.c[k] for k in spec.key)))
        .limit(1)
    )
    row = conn.execute(clash).mappings().first()
    if row:
        raise StoreWriteError(
            name, f"primary key {spec.key} is not unique: {dict(row)} is already there (use mode='merge' for updates)"
        )
