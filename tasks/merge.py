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

ROW_RANK = "__stagehouse_rank"


def newest_per_key(delta: sa.Table, key: list[str], cursor: str) -> sa.Select:
    """The rows of ``delta`` with the highest ``cursor`` per ``key``."""
    rank = sa.func.row_number().over(partition_by=[delta.c[k] for k in key], order_by=delta.c[cursor].desc())
    ranked = sa.select(delta, rank.label(ROW_RANK)).subquery("ranked")
    return sa.select(*[ranked.c[c.name] for c in delta.columns]).where(ranked.c[ROW_RANK] == 1)


def combined_rows(
    engine: sa.Engine,
    base: sa.Table | None,
    delta: sa.Table,
    table: str,
    *,
    mode: str,
    key: list[str] | None = None,
    deleted_column: str | None = None,
    on_conflict: str = "fail",
) -> sa.Select | sa.CompoundSelect:
    """A SELECT producing the new complete table from the committed ``base`` and new ``delta``.

    Without a committed table (the first run) it is the new rows alone, soft-deleted ones dropped.
    """
    if base is None:
        first = sa.select(delta)
        if deleted_column:
            first = first.where(sa.func.coalesce(delta.c[deleted_column], sa.false()) == sa.false())
        return first
    plan = evolve(engine, base, delta, table, on_conflict)
    base_select = sa.select(*[col.base.label(col.name) for col in plan.columns]).select_from(base)
    delta_select = sa.select(*[col.delta.label(col.name) for col in plan.columns]).select_from(delta)
    if mode == "merge":
        replaced = sa.exists().where(sa.and_(*(delta.c[k] == base.c[k] for k in key)))
        base_select = base_select.where(~replaced)
        if deleted_column:
            delta_select = delta_select.where(sa.func.coalesce(delta.c[deleted_column], sa.false()) == sa.false())
    return sa.union_all(base_select, delta_select)
