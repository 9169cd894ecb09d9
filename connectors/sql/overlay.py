"""Layer the change log's edits on a table, in one SQL statement run by the database.

For each row key the latest row event (``i`` or ``d``) decides whether the row exists; the
latest ``u`` of each cell after that event replaces the cell; inserted rows the synced table
does not have yet are appended, and an inserted row whose key the synced table holds too (the
app made it first) shows the inserted values. The edits are first folded into one small relation, one row per
edited key with its key cast to the table's key type: its row event, and each edited cell's new
value. The table then needs a single hash join with it (no key is cast to text on the table's
side, so an index on the key serves too): the cost beside a plain read is one probe per row.
Values are JSON in the log and cast to each column's own type (DuckDB and PostgreSQL).

Example::

    select = overlay_select("duckdb", base_table, "id", "raw.customers")
    rows = overlay_count_select(base_table, "id", "raw.customers")   # how many rows it returns
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.sql.described import NativeType, native_spec
from stagehouse.connectors.sql.dialects import SqlDialect, dialect_of


def overlay_select(
    dialect: SqlDialect | str,
    base: sa.Table | sa.CTE,
    pk: str,
    table: str,
    *,
    keys: Callable[[sa.ColumnElement], sa.ColumnElement] | None = None,
) -> sa.CompoundSelect:
    """``base`` as it looks with the layered edits of ``table`` applied, on the store ``dialect``;
    with ``keys`` (given an edit's row key in the key's type, true for the rows wanted) only those
    rows' edits, for a caller that knows no other row can show (a page's key range)."""
    store = dialect_of(dialect)
    log = CHANGE_LOG
    wanted = []
    if keys is not None:  # the CASE casts this table's keys only: another table's may not cast
        wanted.append(
            keys(sa.case((log.c.table_name == table, sa.cast(log.c.row_pk, NativeType(native_spec(base.c[pk].type))))))
        )
    events = (
        sa.select(log.c.id, log.c.row_pk, log.c.field, log.c.type, log.c.new_value)
        .where(log.c.table_name == table, log.c.retired_at.is_(None), *wanted)
        .cte("edits")
    )
    ranked_rows = (
        sa.select(
            events.c.row_pk,
            events.c.type,
            events.c.new_value,
            events.c.id,
            sa.func.row_number().over(partition_by=events.c.row_pk, order_by=events.c.id.desc()).label("rn"),
        )
        .where(events.c.type.in_(["i", "d"]))
        .subquery("ranked_rows")
    )
    last = (
        sa.select(
            ranked_rows.c.row_pk,
            ranked_rows.c.type,
            ranked_rows.c.new_value.label("record"),
            ranked_rows.c.id.label("since"),
        )
        .where(ranked_rows.c.rn == 1)
        .cte("row_events")
    )
    row_event_id = sa.case((events.c.type.in_(["i", "d"]), events.c.id))
    keyed = sa.select(
        events.c.id,
        events.c.row_pk,
        events.c.field,
        events.c.type,
        events.c.new_value,
        sa.func.max(row_event_id).over(partition_by=events.c.row_pk).label("since"),
    ).subquery("keyed")
    ranked_cells = (
        sa.select(
            keyed.c.row_pk,
            keyed.c.field,
            keyed.c.new_value,
            sa.func.row_number()
            .over(partition_by=(keyed.c.row_pk, keyed.c.field), order_by=keyed.c.id.desc())
            .label("rn"),
        )
        .where(keyed.c.type == "u", keyed.c.id > sa.func.coalesce(keyed.c.since, 0))
        .subquery("ranked_cells")
    )
    columns = [c.name for c in base.columns]
    pivot = (
        sa.select(
            ranked_cells.c.row_pk,
            *(sa.func.max(sa.case((ranked_cells.c.field == c, 1))).label(f"h{i}") for i, c in enumerate(columns)),
            *(
                sa.func.max(sa.case((ranked_cells.c.field == c, store.json_scalar(ranked_cells.c.new_value)))).label(
                    f"v{i}"
                )
                for i, c in enumerate(columns)
            ),
        )
        .where(ranked_cells.c.rn == 1)
        .group_by(ranked_cells.c.row_pk)
        .subquery("cells")
    )
    row_pk = sa.func.coalesce(last.c.row_pk, pivot.c.row_pk)
    edited = (
        sa.select(
            sa.cast(row_pk, NativeType(native_spec(base.c[pk].type))).label("edited_key"),
            last.c.type.label("row_event"),
            last.c.record,
            *(pivot.c[f"h{i}"] for i in range(len(columns))),
            *(pivot.c[f"v{i}"] for i in range(len(columns))),
        )
        .select_from(last.join(pivot, pivot.c.row_pk == last.c.row_pk, full=True))
        .cte("edited_rows")
    )

    def cell(i: int, column: str, fallback: sa.ColumnElement) -> sa.ColumnElement:
        kind = NativeType(native_spec(base.c[column].type))
        return sa.case((edited.c[f"h{i}"] == 1, sa.cast(edited.c[f"v{i}"], kind)), else_=fallback).label(column)

    def inserted_value(column: str) -> sa.ColumnElement:
        return sa.cast(store.json_field(edited.c.record, column), NativeType(native_spec(base.c[column].type)))

    def synced_or_inserted(column: str) -> sa.ColumnElement:
        # a layered insert of a key the synced table holds too (the app made the same key first:
        # a CONFLICT, or not sent yet) shows the inserted record, as the user asked for it
        return sa.case((edited.c.row_event == "i", inserted_value(column)), else_=base.c[column])

    kept = (
        sa.select(*(cell(i, c, synced_or_inserted(c)) for i, c in enumerate(columns)))
        .select_from(base.outerjoin(edited, edited.c.edited_key == base.c[pk]))
        .where(sa.func.coalesce(edited.c.row_event, "") != "d")
    )
    absent = base.alias("synced")
    inserted = (
        sa.select(*(cell(i, c, inserted_value(c)) for i, c in enumerate(columns)))
        .select_from(edited.outerjoin(absent, absent.c[pk] == edited.c.edited_key))
        .where(edited.c.row_event == "i", absent.c[pk].is_(None))
    )
    return sa.union_all(kept, inserted)


def overlay_count_select(base: sa.Table, pk: str, table: str) -> sa.Select:
    """How many rows ``overlay_select`` returns, without layering any cell: the synced rows, less
    those whose key's latest layered row event is a delete, plus the rows whose latest one is an
    insert and that the synced table does not have (a cell edit never adds or removes a row)."""
    log = CHANGE_LOG
    ranked = (
        sa.select(
            log.c.row_pk,
            log.c.type,
            sa.func.row_number().over(partition_by=log.c.row_pk, order_by=log.c.id.desc()).label("rn"),
        )
        .where(log.c.table_name == table, log.c.retired_at.is_(None), log.c.type.in_(["i", "d"]))
        .subquery("ranked_rows")
    )
    last = (
        sa.select(
            sa.cast(ranked.c.row_pk, NativeType(native_spec(base.c[pk].type))).label("edited_key"),
            ranked.c.type,
        )
        .where(ranked.c.rn == 1)
        .subquery("row_events")
    )
    synced = base.alias("synced")
    found = synced.c[pk].is_not(None)  # each synced row of the key: a deleted key counts them all
    changed = (
        sa.select(
            sa.func.count(sa.case((sa.and_(last.c.type == "d", found), 1))).label("deleted"),
            sa.func.count(sa.case((sa.and_(last.c.type == "i", ~found), 1))).label("inserted"),
        )
        .select_from(last.outerjoin(synced, synced.c[pk] == last.c.edited_key))
        .subquery("changed")
    )
    rows = sa.select(sa.func.count()).select_from(base).scalar_subquery()
    return sa.select((rows - changed.c.deleted + changed.c.inserted).label("rows")).select_from(changed)
