"""Layer the change log's edits on a table, in one SQL statement run by the database.

For each row key the latest row event (``i`` or ``d``) decides whether the row exists; the
latest ``u`` of each cell after that event replaces the cell; inserted rows the synced table
does not have yet are appended. The edits are first folded into one small relation, one row per
edited key with its key cast to the table's key type: its row event, and each edited cell's new
value. The table then needs a single hash join with it (no key is cast to text on the table's
side, so an index on the key serves too): the cost beside a plain read is one probe per row.
Values are JSON in the log and cast to each column's own type (DuckDB and PostgreSQL).

Example::

    select = overlay_select("duckdb", base_table, "id", "raw.customers")
"""

from __future__ import annotations

import sqlalchemy as sa

from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.sql.described import NativeType
from stagehouse.connectors.sql.dialects import SqlDialect, dialect_of


def overlay_select(dialect: SqlDialect | str, base: sa.Table, pk: str, table: str) -> sa.CompoundSelect:
    """``base`` as it looks with the layered edits of ``table`` applied, on the store ``dialect``."""
    store = dialect_of(dialect)
    log = CHANGE_LOG
    events = (
        sa.select(log.c.id, log.c.row_pk, log.c.field, log.c.type, log.c.new_value)
        .where(log.c.table_name == table, log.c.retired_at.is_(None))
        .cte("edits")
    )
    ranked_rows = sa.select(
        events.c.row_pk, events.c.type, events.c.new_value, events.c.id,
        sa.func.row_number().over(partition_by=events.c.row_pk, order_by=events.c.id.desc()).label("rn"),
    ).where(events.c.type.in_(["i", "d"])).subquery("ranked_rows")
    last = sa.select(
        ranked_rows.c.row_pk, ranked_rows.c.type, ranked_rows.c.new_value.label("record"), ranked_rows.c.id.label("since")
    ).where(ranked_rows.c.rn == 1).cte("row_events")
    row_event_id = sa.case((events.c.type.in_(["i", "d"]), events.c.id))
    keyed = sa.select(
        events.c.id, events.c.row_pk, events.c.field, events.c.type, events.c.new_value,
        sa.func.max(row_event_id).over(partition_by=events.c.row_pk).label("since"),
    ).subquery("keyed")
    ranked_cells = (
        sa.select(
            keyed.c.row_pk, keyed.c.field, keyed.c.new_value,
            sa.func.row_number().over(partition_by=(keyed.c.row_pk, keyed.c.field), order_by=keyed.c.id.desc()).label("rn"),
        )
        .where(keyed.c.type == "u", keyed.c.id > sa.func.coalesce(keyed.c.since, 0))
        .subquery("ranked_cells")
    )
    columns = [c.name for c in base.columns]
    pivot = (
        sa.select(
            ranked_cells.c.row_pk,
            *(sa.func.max(sa.case((ranked_cells.c.field == c, 1))).label(f"h{i}") for i, c in enumerate(columns)),
            *(sa.func.max(sa.case((ranked_cells.c.field == c, store.json_scalar(ranked_cells.c.new_value)))).label(f"v{i}") for i, c in enumerate(columns)),
        )
        .where(ranked_cells.c.rn == 1)
        .group_by(ranked_cells.c.row_pk)
        .subquery("cells")
    )
    row_pk = sa.func.coalesce(last.c.row_pk, pivot.c.row_pk)
    edited = (
        sa.select(
            sa.cast(row_pk, NativeType(base.c[pk].type.spec)).label("edited_key"),
            last.c.type.label("row_event"), last.c.record,
            *(pivot.c[f"h{i}"] for i in range(len(columns))), *(pivot.c[f"v{i}"] for i in range(len(columns))),
        )
        .select_from(last.join(pivot, pivot.c.row_pk == last.c.row_pk, full=True))
        .cte("edited_rows")
    )

    def cell(i: int, column: str, fallback: sa.ColumnElement) -> sa.ColumnElement:
        kind = NativeType(base.c[column].type.spec)
        return sa.case((edited.c[f"h{i}"] == 1, sa.cast(edited.c[f"v{i}"], kind)), else_=fallback).label(column)

    kept = (
        sa.select(*(cell(i, c, base.c[c]) for i, c in enumerate(columns)))
        .select_from(base.outerjoin(edited, edited.c.edited_key == base.c[pk]))
        .where(sa.func.coalesce(edited.c.row_event, "") != "d")
    )
    absent = base.alias("synced")
    inserted = (
        sa.select(*(cell(i, c, sa.cast(store.json_field(edited.c.record, c), NativeType(base.c[c].type.spec))) for i, c in enumerate(columns)))
        .select_from(edited.outerjoin(absent, absent.c[pk] == edited.c.edited_key))
        .where(edited.c.row_event == "i", absent.c[pk].is_(None))
    )
    return sa.union_all(kept, inserted)
