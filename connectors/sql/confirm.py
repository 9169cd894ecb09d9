"""Which written-back edits the synced table confirms, so they stop being layered on reads.

An edit stays layered until the synced data itself shows it took effect; "PROCESSED and a sync
ran after it" is not enough, because many apps do not move a record's cursor on an update (a
merge or incremental sync never fetches it again) and no merge or incremental sync sees a hard
delete. Confirmed, per kind of PROCESSED edit:

- ``u`` (the latest PROCESSED edit of a cell, and every earlier edit of that cell): the synced
  cell holds its new value; or the synced row is no longer the one the writeback saw — a sync
  brought a newer version of the record, so whatever the app holds now wins (it normalised the
  value, or someone changed it, even back, after the writeback); or, for an edit claimed before
  rows were fingerprinted, the cell holds a value none of the cell's edits saw or wrote;
- ``d``: the row is absent from the synced table (a full sync, or a merge's ``deleted_column``),
  or a sync brought a newer version of it (the app has the record again); until then it stays
  hidden, so a sync that cannot see deletes never brings it back;
- ``i``: the row is present in the synced table (later cell edits of it are judged as ``u``).

"The row the writeback saw" is a fingerprint of the synced row taken when the change is claimed
(``synced_row``): every column as ``name=value`` text, NULLs left out, so a column a sync adds
later (NULL in rows it did not fetch again) leaves it unchanged. Everything runs in the store,
one UPDATE of the change log each (DuckDB and PostgreSQL).

Example::

    statement = retire_confirmed_statement("duckdb", base_table, "id", "raw.customers", ["email"], now)
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.sql.described import NativeType, native_spec
from stagehouse.connectors.sql.dialects import SqlDialect, dialect_of


def _as_column(
    dialect: SqlDialect | str, base: sa.Table, column: str, json_value: sa.ColumnElement
) -> sa.ColumnElement:
    return sa.cast(dialect_of(dialect).json_scalar(json_value), NativeType(native_spec(base.c[column].type)))


def row_fingerprint(base: sa.Table) -> sa.ColumnElement:
    """md5 of the row's non-NULL columns as ``name=value`` text, in name order."""
    parts = [sa.literal(f"{name}=", sa.Text) + sa.cast(base.c[name], sa.Text) for name in sorted(base.c.keys())]
    return sa.func.md5(sa.func.concat_ws(sa.literal("|", sa.Text), *parts))


def fingerprint_statement(base: sa.Table, pk: str, table: str, statuses: list[str]) -> sa.Update:
    """UPDATE noting on the cell and row edits of ``table`` in ``statuses`` (about to be claimed)
    the fingerprint of the synced row they edit (NULL where the synced table has no such row)."""
    log = CHANGE_LOG
    synced = (
        sa.select(row_fingerprint(base))
        .where(base.c[pk] == sa.cast(log.c.row_pk, NativeType(native_spec(base.c[pk].type))))
        .scalar_subquery()
    )
    return (
        sa.update(log)
        .where(log.c.table_name == table, log.c.writeback_status.in_(statuses), log.c.type.in_(["u", "d"]))
        .values(synced_row=synced)
    )


def retire_confirmed_statement(
    dialect: SqlDialect | str, base: sa.Table, pk: str, table: str, edited_fields: list[str], now: dt.datetime
) -> sa.Update:
    """UPDATE setting ``retired_at`` on the layered edits of ``table`` that ``base`` confirms;
    ``edited_fields`` are the columns with PROCESSED cell edits (one branch each)."""
    log = CHANGE_LOG
    live = sa.select(log).where(log.c.table_name == table, log.c.retired_at.is_(None)).cte("live")
    key_type = NativeType(native_spec(base.c[pk].type))

    ranked_rows = (
        sa.select(
            live.c.row_pk,
            live.c.id,
            live.c.type,
            live.c.writeback_status,
            live.c.synced_row,
            sa.func.row_number().over(partition_by=live.c.row_pk, order_by=live.c.id.desc()).label("rn"),
        )
        .where(live.c.type.in_(["i", "d"]))
        .subquery("ranked_rows")
    )
    same_key = base.c[pk] == sa.cast(ranked_rows.c.row_pk, key_type)
    present = sa.exists().where(same_key)
    refetched = sa.exists().where(same_key, row_fingerprint(base) != ranked_rows.c.synced_row)
    rows_confirmed = sa.select(ranked_rows.c.row_pk, ranked_rows.c.id.label("upto")).where(
        ranked_rows.c.rn == 1,
        ranked_rows.c.writeback_status == "PROCESSED",
        sa.or_(
            sa.and_(ranked_rows.c.type == "d", sa.or_(~present, refetched)), sa.and_(ranked_rows.c.type == "i", present)
        ),
    )

    ranked_cells = (
        sa.select(
            live.c.row_pk,
            live.c.field,
            live.c.id,
            live.c.new_value,
            live.c.synced_row,
            sa.func.row_number()
            .over(partition_by=(live.c.row_pk, live.c.field), order_by=live.c.id.desc())
            .label("rn"),
        )
        .where(live.c.type == "u", live.c.writeback_status == "PROCESSED")
        .cte("latest_cells")
    )
    earlier = live.alias("earlier")
    cells_confirmed = []
    for column in edited_fields:
        synced = base.c[column]
        saw_or_wrote = sa.exists().where(
            earlier.c.row_pk == ranked_cells.c.row_pk,
            earlier.c.field == column,
            earlier.c.type == "u",
            earlier.c.id <= ranked_cells.c.id,
            sa.or_(
                synced.is_not_distinct_from(_as_column(dialect, base, column, earlier.c.old_value)),
                synced.is_not_distinct_from(_as_column(dialect, base, column, earlier.c.new_value)),
            ),
        )
        cells_confirmed.append(
            sa.select(ranked_cells.c.row_pk, sa.literal(column).label("field"), ranked_cells.c.id.label("upto"))
            .select_from(ranked_cells.join(base, base.c[pk] == sa.cast(ranked_cells.c.row_pk, key_type)))
            .where(
                ranked_cells.c.rn == 1,
                ranked_cells.c.field == column,
                sa.or_(
                    synced.is_not_distinct_from(_as_column(dialect, base, column, ranked_cells.c.new_value)),
                    row_fingerprint(base) != ranked_cells.c.synced_row,
                    sa.and_(ranked_cells.c.synced_row.is_(None), ~saw_or_wrote),
                ),
            )
        )

    confirmed_rows = rows_confirmed.subquery("rows_confirmed")
    retired = [
        sa.select(live.c.id)
        .join(confirmed_rows, confirmed_rows.c.row_pk == live.c.row_pk)
        .where(live.c.id <= confirmed_rows.c.upto)
    ]
    if cells_confirmed:
        cells = sa.union_all(*cells_confirmed).subquery("cells_confirmed")
        retired.append(
            sa.select(live.c.id)
            .join(cells, sa.and_(cells.c.row_pk == live.c.row_pk, cells.c.field == live.c.field))
            .where(live.c.type == "u", live.c.id <= cells.c.upto)
        )
    ids = sa.union_all(*retired).subquery("retired")
    return sa.update(log).where(log.c.id.in_(sa.select(ids.c.id))).values(retired_at=now)
