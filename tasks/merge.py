"""Combine the committed table with newly extracted rows, in SQL inside the store.

``append`` keeps every committed row and adds the new ones; ``merge`` replaces committed rows
whose primary key appears among the new rows and drops rows whose soft-delete column is true.
Before a merge, ``unique_rows`` refuses a NULL key and ``newest_per_key`` keeps one new row per
key (the highest cursor; of two with the same cursor, the greatest by the other columns). Column
sets and types are reconciled by ``tasks.evolution``.

Example::

    CREATE TABLE tx.orders AS <combined_rows(engine, base, delta, "orders", mode="merge", key=["id"])>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from stagehouse.tasks.evolution import evolve
from stagehouse.tasks.keys import check_unique, has_duplicate_key
from stagehouse.tasks.sync_columns import INTEGER

if TYPE_CHECKING:
    from stagehouse.tasks.versioned import LoadSpec


def newest_per_key(delta: sa.FromClause, key: list[str], cursor: str) -> sa.Select:
    """The row of ``delta`` with the highest ``cursor`` per ``key`` (``DISTINCT ON``, which both
    stores run; PostgreSQL estimates its size from the key's statistics, where a ``row_number()``
    filter is guessed at 0.5 % of the rows and plans a big delta's merge as index lookups).

    Two rows of a key with the same cursor: the greatest by the other columns, compared in
    their order (NULL lowest) — SQL has no source order, and without this the store's sort
    would pick either, differently from run to run."""
    keys = [delta.c[k] for k in key]
    others = [c.desc().nulls_last() for c in delta.c if c.name not in key and c.name != cursor]
    return sa.select(delta).distinct(*keys).order_by(*keys, delta.c[cursor].desc().nulls_last(), *others)


def unique_rows(
    bind: sa.Engine | sa.Connection, schema: str | None, rows: sa.Table, spec: LoadSpec, source: str | None, table: str
) -> sa.FromClause:
    """The new ``rows`` with one per key: a merge keeps the newest row of a repeated key (checked
    first: most deltas repeat none), other modes fail on a repeated key; a NULL key fails in every
    mode (``NullKeyError`` naming ``source`` and the store's ``table``), found by the same
    aggregate of the delta. A key that is the source table's own primary key repeats nothing,
    holds no NULL and is not checked."""
    if not spec.key or spec.key_is_unique:
        return rows
    if spec.mode == "merge" and spec.cursor:
        if has_duplicate_key(bind, schema, rows.name, spec.key, source=source, store_table=table):
            return newest_per_key(rows, spec.key, spec.cursor).subquery(
                "newest"
            )  # repeating it costs less than a table
        return rows
    check_unique(bind, schema, rows.name, spec.key, source=source, store_table=table)
    return rows


def not_loaded_yet(
    delta: sa.FromClause, loaded_at_mark: sa.Select, mark: sa.ColumnElement, spec: LoadSpec
) -> sa.FromClause:
    """The new rows of an append without those an earlier load already holds at the high-water
    ``mark``: a SQL source is read from ``cursor >= mark``, so that a row that arrived with the
    mark's value after the last read (a tie) is not lost, and the rows read last time at the mark
    come again. They are dropped by ``spec.key`` when there is one, else as whole rows, each as
    many times as it is held (``EXCEPT ALL``, which compares NULLs as equal). ``loaded_at_mark``
    selects the committed rows whose cursor equals the mark."""
    assert spec.cursor is not None  # an append with a cursor
    cursor = delta.c[spec.cursor]
    at_mark = sa.func.coalesce(cursor == mark, False)
    if spec.key:
        loaded = loaded_at_mark.subquery("loaded")
        held = sa.exists().where(*(loaded.c[k] == delta.c[k] for k in spec.key))
        return sa.select(delta).where(~sa.and_(at_mark, held)).subquery("unloaded")
    loaded = loaded_at_mark.subquery("loaded")
    columns = [c.name for c in delta.c]
    held_rows = sa.select(*(_as_delta(loaded, delta, c) for c in columns))
    tied = sa.select(*(delta.c[c] for c in columns)).where(at_mark).except_all(held_rows)
    past = sa.select(*(delta.c[c] for c in columns)).where(~at_mark)
    return sa.union_all(past, tied).subquery("unloaded")


def _as_delta(loaded: sa.FromClause, delta: sa.FromClause, column: str) -> sa.ColumnElement:
    """A held row's ``column`` as the delta types it, so the two compare: NULL when the committed
    table lacks it, cast when its type changed (a bigint column now read as text: PostgreSQL
    compares no text with a bigint, and the retyped column is then judged by the load's evolution)."""
    if column not in loaded.c:
        return sa.cast(sa.null(), delta.c[column].type).label(column)
    if str(loaded.c[column].type) != str(delta.c[column].type):
        return sa.cast(loaded.c[column], delta.c[column].type).label(column)
    return loaded.c[column]


def not_deleted(table: sa.FromClause, deleted_column: str | None) -> sa.ColumnElement[bool]:
    """Rows whose soft-delete flag is not true (every row when there is no flag); a whole-number
    flag is true when not 0 (MySQL's BOOLEAN is tinyint(1))."""
    if not deleted_column:
        return sa.true()
    flag = table.c[deleted_column]
    if not isinstance(flag.type, sa.Boolean) and INTEGER.match(getattr(flag.type, "spec", "")):
        return sa.func.coalesce(flag, 0) == 0
    return sa.func.coalesce(flag, sa.false()) == sa.false()


def combined_rows(
    engine: sa.Engine,
    base: sa.Table,
    delta: sa.Table,
    table: str,
    *,
    mode: str,
    key: list[str] | None = None,
    deleted_column: str | None = None,
    on_conflict: str = "fail",
) -> sa.CompoundSelect:
    """A SELECT producing the new complete table from the committed ``base`` and new ``delta``."""
    plan = evolve(engine, base, delta, table, on_conflict)
    base_select = sa.select(*[col.base.label(col.name) for col in plan.columns]).select_from(base)
    delta_select = sa.select(*[col.delta.label(col.name) for col in plan.columns]).select_from(delta)
    if mode == "merge":
        replaced = sa.exists().where(sa.and_(*(delta.c[k] == base.c[k] for k in key or [])))
        base_select = base_select.where(~replaced)
        delta_select = delta_select.where(not_deleted(delta, deleted_column))
    return sa.union_all(base_select, delta_select)
