"""Which written-back edits the synced table confirms, so they stop being layered on reads.

An edit stays layered until the synced data itself shows it took effect; "PROCESSED and a sync
ran after it" is not enough, because many apps do not move a record's cursor on an update (a
merge or incremental sync never fetches it again) and no merge or incremental sync sees a hard
delete. Confirmed, per kind of PROCESSED edit:

- ``u`` (the latest PROCESSED edit of a cell, and every earlier edit of that cell): the synced
  cell holds its new value, or a value none of the cell's layered edits saw or wrote (the app
  moved on, e.g. it normalised the value or someone changed it after the writeback);
- ``d``: the row is absent from the synced table (a full sync, or a merge's ``deleted_column``);
  until then it stays hidden, so a sync that cannot see deletes never brings it back;
- ``i``: the row is present in the synced table (later cell edits of it are judged as ``u``).

Everything runs in the store as one UPDATE of the change log (DuckDB and PostgreSQL).

Example::

    statement = retire_confirmed_statement("duckdb", base_table, "id", "raw.customers", ["email"], now)
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from connectors.sql.changelog import CHANGE_LOG
from connectors.sql.native import NativeType
from connectors.sql.overlay import json_scalar


def _as_column(dialect: str, base: sa.Table, column: str, json_value: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(json_scalar(dialect, json_value), NativeType(base.c[column].type.spec))


def retire_confirmed_statement(
    dialect: str, base: sa.Table, pk: str, table: str, edited_fields: list[str], now: dt.datetime
) -> sa.Update:
    """UPDATE setting ``retired_at`` on the layered edits of ``table`` that ``base`` confirms;
    ``edited_fields`` are the columns with PROCESSED cell edits (one branch each)."""
    log = CHANGE_LOG
    live = sa.select(log).where(log.c.table_name == table, log.c.retired_at.is_(None)).cte("live")
    key_type = NativeType(base.c[pk].type.spec)

    ranked_rows = sa.select(
        live.c.row_pk, live.c.id, live.c.type, live.c.writeback_status,
        sa.func.row_number().over(partition_by=live.c.row_pk, order_by=live.c.id.desc()).label("rn"),
    ).where(live.c.type.in_(["i", "d"])).subquery("ranked_rows")
    present = sa.exists().where(base.c[pk] == sa.cast(ranked_rows.c.row_pk, key_type))
    rows_confirmed = sa.select(ranked_rows.c.row_pk, ranked_rows.c.id.label("upto")).where(
        ranked_rows.c.rn == 1,
        ranked_rows.c.writeback_status == "PROCESSED",
        sa.or_(sa.and_(ranked_rows.c.type == "d", ~present), sa.and_(ranked_rows.c.type == "i", present)),
    )

    ranked_cells = sa.select(
        live.c.row_pk, live.c.field, live.c.id, live.c.new_value,
        sa.func.row_number().over(partition_by=(live.c.row_pk, live.c.field), order_by=live.c.id.desc()).label("rn"),
    ).where(live.c.type == "u", live.c.writeback_status == "PROCESSED").cte("latest_cells")
    earlier = live.alias("earlier")
    cells_confirmed = []
    for column in edited_fields:
        synced = base.c[column]
        saw_or_wrote = sa.exists().where(
            earlier.c.row_pk == ranked_cells.c.row_pk, earlier.c.field == column, earlier.c.type == "u", earlier.c.id <= ranked_cells.c.id,
            sa.or_(
                synced.is_not_distinct_from(_as_column(dialect, base, column, earlier.c.old_value)),
                synced.is_not_distinct_from(_as_column(dialect, base, column, earlier.c.new_value)),
            ),
        )
        cells_confirmed.append(
            sa.select(ranked_cells.c.row_pk, sa.literal(column).label("field"), ranked_cells.c.id.label("upto"))
            .select_from(ranked_cells.join(base, base.c[pk] == sa.cast(ranked_cells.c.row_pk, key_type)))
            .where(
                ranked_cells.c.rn == 1, ranked_cells.c.field == column,
                sa.or_(synced.is_not_distinct_from(_as_column(dialect, base, column, ranked_cells.c.new_value)), ~saw_or_wrote),
            )
        )

    confirmed_rows = rows_confirmed.subquery("rows_confirmed")
    retired = [
        sa.select(live.c.id).join(confirmed_rows, confirmed_rows.c.row_pk == live.c.row_pk).where(live.c.id <= confirmed_rows.c.upto)
    ]
    if cells_confirmed:
        cells = sa.union_all(*cells_confirmed).subquery("cells_confirmed")
        retired.append(
            sa.select(live.c.id).join(cells, sa.and_(cells.c.row_pk == live.c.row_pk, cells.c.field == live.c.field))
            .where(live.c.type == "u", live.c.id <= cells.c.upto)
        )
    ids = sa.union_all(*retired).subquery("retired")
    return sa.update(log).where(log.c.id.in_(sa.select(ids.c.id))).values(retired_at=now)
