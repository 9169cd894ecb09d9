"""Layer the change log's edits on a table, in one SQL statement run by the database.

For each row key the latest row event (``i`` or ``d``) decides whether the row exists; the
latest ``u`` of each cell after that event replaces the cell; inserted rows the synced table
does not have yet are appended. Edits are pivoted once per key (a GROUP BY over the log, not
over the table) and joined to the table by a hash join, so the cost beside a plain read is one
pass over the edits and the join.
Values are JSON in the log and cast to each column's own type (DuckDB and PostgreSQL).

Example::

    select = overlay_select("duckdb", base_table, "id", "raw.customers")
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from connectors.sql.changelog import CHANGE_LOG
from connectors.sql.native import NativeType


def _json_scalar(dialect: str, value: sa.ColumnElement) -> sa.ColumnElement:
    """The text of a JSON scalar ('"abc"' -> abc, 'null' -> NULL)."""
    if dialect == "postgresql":
        return sa.cast(value, postgresql.JSONB).op("#>>")(sa.literal_column("'{}'"))
    return sa.func.json_extract_string(value, "$")


def _json_field(dialect: str, value: sa.ColumnElement, key: str) -> sa.ColumnElement:
    """The text of field ``key`` of a JSON object."""
    if dialect == "postgresql":
        return sa.func.jsonb_extract_path_text(sa.cast(value, postgresql.JSONB), sa.literal(key, sa.Text))
    return sa.func.json_extract_string(value, "$." + '"' + key.replace('"', '\\"') + '"')


def overlay_select(dialect: str, base: sa.Table, pk: str, table: str) -> sa.CompoundSelect:
    """``base`` as it looks with the layered edits of ``table`` applied."""
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
    ranked_cells = (
        sa.select(
            events.c.row_pk, events.c.field, events.c.new_value,
            sa.func.row_number().over(partition_by=(events.c.row_pk, events.c.field), order_by=events.c.id.desc()).label("rn"),
        )
        .select_from(events.outerjoin(last, last.c.row_pk == events.c.row_pk))
        .where(events.c.type == "u", events.c.id > sa.func.coalesce(last.c.since, 0))
        .subquery("ranked_cells")
    )
    columns = [c.name for c in base.columns]
    pivot = (
        sa.select(
            ranked_cells.c.row_pk,
            *(sa.func.max(sa.case((ranked_cells.c.field == c, 1))).label(f"h{i}") for i, c in enumerate(columns)),
            *(sa.func.max(sa.case((ranked_cells.c.field == c, _json_scalar(dialect, ranked_cells.c.new_value)))).label(f"v{i}") for i, c in enumerate(columns)),
        )
        .where(ranked_cells.c.rn == 1)
        .group_by(ranked_cells.c.row_pk)
        .cte("cells")
    )

    def cell(i: int, column: str, fallback: sa.ColumnElement) -> sa.ColumnElement:
        kind = NativeType(base.c[column].type.spec)
        return sa.case((pivot.c[f"h{i}"] == 1, sa.cast(pivot.c[f"v{i}"], kind)), else_=fallback).label(column)

    base_key = sa.cast(base.c[pk], sa.Text)
    kept = (
        sa.select(*(cell(i, c, base.c[c]) for i, c in enumerate(columns)))
        .select_from(base.outerjoin(pivot, pivot.c.row_pk == base_key))
        .where(~sa.exists().where(last.c.row_pk == base_key, last.c.type == "d"))
    )
    inserted = (
        sa.select(*(cell(i, c, sa.cast(_json_field(dialect, last.c.record, c), NativeType(base.c[c].type.spec))) for i, c in enumerate(columns)))
        .select_from(last.outerjoin(pivot, pivot.c.row_pk == last.c.row_pk))
        .where(last.c.type == "i", ~sa.exists().where(base_key == last.c.row_pk))
    )
    return sa.union_all(kept, inserted)
