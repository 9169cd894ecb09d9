"""One page of a store table for the cockpit's grid: the change log's edits layered on, edited
cells marked, sorted and filtered in the database, with the row count.

The page is one query on the warehouse client's own overlay (``overlaid``, the SELECT ``fetch``
runs) with ORDER BY, WHERE, LIMIT and OFFSET around it, so a 1,000,000-row table costs what its
first 100 rows cost; the marks come from the change log's rows of the page's keys only.

Example::

    with store_session("local") as wh:
        page = read_page(wh, "raw", "customers", limit=50, sort="name", filter_text="ghent")
        page.frame, page.total, page.is_edited("7", "email")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError
from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.overlay import overlay_select
from stagehouse.connectors.sql.shapes import shaped

PAGE_SIZES = (25, 50, 100, 250)


@dataclass
class GridPage:
    """Rows ``offset``… of ``table`` as shown (pandas), how many rows match, and the edited cells."""

    table: str
    key: str | None
    frame: Any
    total: int | None
    offset: int
    edited_cells: set[tuple[str, str]] = field(default_factory=set)  # (row key as text, column)
    inserted_rows: set[str] = field(default_factory=set)  # row keys (text) added through the change log

    def is_edited(self, row_pk: Any, column: str) -> bool:
        """Whether the cell shows a value from the change log (an inserted row's every cell does)."""
        return str(row_pk) in self.inserted_rows or (str(row_pk), column) in self.edited_cells

    def marks(self) -> list[list[bool]]:
        """Per row of ``frame``, per column: edited or not (for the grid's colouring)."""
        if self.key is None or self.key not in self.frame.columns:
            return [[False] * len(self.frame.columns) for _ in range(len(self.frame))]
        return [[self.is_edited(k, c) for c in self.frame.columns] for k in self.frame[self.key]]


def grid_key(wh: Any, schema: str, table: str) -> str | None:
    """The key the table's edits use: the change log's, else the table's (one column); None if neither."""
    label = f"{schema}.{table}"
    used = wh.change_log.pk_field(label)
    if used is not None:
        return used
    keys = wh.key_of(schema, table)
    return keys[0] if len(keys) == 1 else None


def _matching(wh: Any, base: sa.Table, view: sa.Subquery, column: str | None, text: str | None) -> sa.ColumnElement | None:
    """The filter: ``text`` inside the cell of ``column`` (any column when None), case-insensitive."""
    if not text:
        return None
    pattern = "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    if column is not None:
        wh.check_columns(base, [column], "pick a column of the table to filter on")
        return sa.cast(view.c[column], sa.Text).ilike(pattern, escape="!")
    return sa.or_(*(sa.cast(c, sa.Text).ilike(pattern, escape="!") for c in view.c))


def read_page(
    wh: Any, schema: str, table: str, *, offset: int = 0, limit: int = 100, sort: str | None = None,
    descending: bool = False, filter_column: str | None = None, filter_text: str | None = None, count: bool = True,
) -> GridPage:
    """Rows ``offset``…``offset+limit`` of ``schema.table`` with the edits layered on, by ``sort``
    (else by the key, else as the store returns them)."""
    if limit < 1 or offset < 0:
        raise WarehouseError(wh.name, f"table '{schema}.{table}'", f"page of {limit} rows from row {offset}: use a positive page size and offset")
    base = wh.table(schema, table)
    key = grid_key(wh, schema, table)
    full = wh.overlaid(base).subquery("shown")
    where = _matching(wh, base, full, filter_column, filter_text)
    view = None if sort is not None or where is not None else _first_rows(wh, base, key, offset + limit, descending)
    view = full if view is None else view
    query = sa.select(view)
    if where is not None:
        query = query.where(where)
    if sort is not None:
        wh.check_columns(base, [sort], "pick a column of the table to sort by")
        order = view.c[sort].desc().nulls_last() if descending else view.c[sort].asc().nulls_last()
        query = query.order_by(order, *([view.c[key]] if key and key != sort else []))
    elif key is not None:  # pages of an unordered join would overlap: key order keeps them apart
        query = query.order_by(view.c[key].desc() if descending else view.c[key])
    frame = shaped(wh.arrow(query.limit(limit).offset(offset)), df=True)
    total = row_count(wh, base, full, where, filtered=bool(filter_text)) if count else None
    page = GridPage(f"{schema}.{table}", key, frame, total, offset)
    if key is not None and key in frame.columns and len(frame):
        _mark(wh, page, [str(k) for k in frame[key].tolist()])
    return page


def _first_rows(wh: Any, base: sa.Table, key: str | None, rows: int, descending: bool) -> sa.Subquery | None:
    """The overlaid table's first ``rows`` rows in key order, read from the synced table's first
    ``rows`` + (layered deletes) rows only: the overlay decides each row by its own key, so those
    rows hold every one of the first ``rows``, and a row it appends past them sorts after them.
    None when the table has no layered edits under ``key`` (the plain table is as fast)."""
    label = f"{base.schema}.{base.name}"
    store = dialect_of(wh.engine)
    if key is None or not store.capabilities.change_log_overlay or wh.change_log.layered_key(label) != key:
        return None
    log = CHANGE_LOG
    deletes = sa.select(sa.func.count()).where(log.c.table_name == label, log.c.retired_at.is_(None), log.c.type == "d")
    with wh.engine.connect() as conn:
        deleted = conn.execute(deletes).scalar() or 0
    order = base.c[key].desc() if descending else base.c[key]
    first = sa.select(base).order_by(order).limit(rows + deleted).subquery("first_synced")
    return overlay_select(store, first, key, label).subquery("shown")


COUNT_SECONDS = 30.0
_counts: dict[tuple, tuple[float, int]] = {}  # what a count was taken for -> (when, rows)


def row_count(wh: Any, base: sa.Table, view: sa.Subquery, where: sa.ColumnElement | None, *, filtered: bool) -> int:
    """How many rows the overlaid table has (that match ``where``): counted over the overlay, then
    kept up to 30 s while neither the synced table's row count nor the table's added or deleted
    rows (any edit, with a filter) changed, since a cell edit does not change it."""
    label = f"{base.schema}.{base.name}"
    synced = int(wh.arrow(sa.select(sa.func.count()).select_from(base)).column(0)[0].as_py())  # a metadata read on DuckDB
    signature: tuple = ()
    if wh.change_log.exists():
        log = CHANGE_LOG
        row_events = sa.case((log.c.type.in_(["i", "d"]) | sa.literal(filtered), log.c.id))
        query = sa.select(sa.func.max(row_events), sa.func.count(log.c.retired_at)).where(log.c.table_name == label)
        with wh.engine.connect() as conn:
            signature = tuple(conn.execute(query).one())
    asked = (str(wh.engine.url), label, str(where.compile(compile_kwargs={"literal_binds": True})) if where is not None else "", synced, signature)
    kept = _counts.get(asked)
    if kept is not None and time.monotonic() - kept[0] < COUNT_SECONDS:
        return kept[1]
    counted = sa.select(sa.func.count()).select_from(view)
    rows = int(wh.arrow(counted.where(where) if where is not None else counted).column(0)[0].as_py())
    if len(_counts) > 1000:
        _counts.clear()
    _counts[asked] = (time.monotonic(), rows)
    return rows


def _mark(wh: Any, page: GridPage, keys: list[str]) -> None:
    """Note the page's cells and rows that show an edit still layered (not retired)."""
    if not wh.change_log.exists():
        return
    log = CHANGE_LOG
    query = sa.select(log.c.row_pk, log.c.field, log.c.type).where(
        log.c.table_name == page.table, log.c.retired_at.is_(None), log.c.type.in_(["u", "i"]), log.c.row_pk.in_(keys),
    )
    with wh.engine.connect() as conn:
        for row_pk, column, kind in conn.execute(query):
            if kind == "i":
                page.inserted_rows.add(row_pk)
            else:
                page.edited_cells.add((row_pk, column))
