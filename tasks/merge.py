"""Combine the committed table with newly extracted rows, in SQL inside the store.

``append`` keeps every committed row and adds the new ones; ``merge`` replaces committed rows
whose primary key appears among the new rows and drops rows whose soft-delete column is true.
Before a merge, ``newest_per_key`` keeps one new row per key (the highest cursor). Column sets
and types are reconciled by ``tasks.evolution``.

Example::

    CREATE TABLE tx.orders AS <combined_rows(engine, base, delta, "orders", mode="merge", key=["id"])>
"""

from __future__ import annotations

import sqlalchemy as sa

from tasks.evolution import evolve

def newest_per_key(delta: sa.FromClause, key: list[str], cursor: str) -> sa.Select:
    """The row of ``delta`` with the highest ``cursor`` per ``key`` (``DISTINCT ON``, which both
    stores run; PostgreSQL estimates its size from the key's statistics, where a ``row_number()``
    filter is guessed at 0.5 % of the rows and plans a big delta's merge as index lookups)."""
    keys = [delta.c[k] for k in key]
    return sa.select(delta).distinct(*keys).order_by(*keys, delta.c[cursor].desc().nulls_last())


def not_deleted(table: sa.Table, deleted_column: str | None) -> sa.ColumnElement[bool]:
    """Rows whose soft-delete flag is not true (every row when there is no flag)."""
    if not deleted_column:
        return sa.true()
    return sa.func.coalesce(table.c[deleted_column], sa.false()) == sa.false()


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
        replaced = sa.exists().where(sa.and_(*(delta.c[k] == base.c[k] for k in key)))
        base_select = base_select.where(~replaced)
        delta_select = delta_select.where(not_deleted(delta, deleted_column))
    return sa.union_all(base_select, delta_select)
