"""One page of a store table for the cockpit's grid: the change log's edits layered on, edited
cells marked, sorted and filtered in the database, with the row count.

The page is one query on the warehouse client's own overlay (``overlaid``, the SELECT ``fetch``
runs) with ORDER BY, WHERE, LIMIT and OFFSET around it, so a 1,000,000-row table costs what its
first 100 rows cost; the marks come from the change log's rows of the page's keys only. The row
count is taken with each page, never kept, so a page and its count are never older than the store.

Example::

    with store_session("local") as wh:
        page = read_page(wh, "raw", "customers", limit=50, sort="name", filter_text="ghent")
        page.frame, page.total, page.is_edited("7", "email")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError
from stagehouse.connectors.sql.changelog import CHANGE_LOG
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.overlay import overlay_count_select, overlay_select
from stagehouse.connectors.sql.shapes import shaped
from stagehouse.flows.ui.reads import arrow, together

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
        """Per row of ``frame``, per column: edited or not (for the grid's colouring); as
        ``is_edited`` says, by each row's edited columns (a page has few, and many cells)."""
        columns = list(self.frame.columns)
        if self.key is None or self.key not in columns:
            return [[False] * len(columns) for _ in range(len(self.frame))]
        edited: dict[str, set[str]] = {}
        for row, column in self.edited_cells:
            edited.setdefault(row, set()).add(column)
        return [
            [True] * len(columns) if k in self.inserted_rows else [c in edited.get(k, ()) for c in columns]
            for k in map(str, self.frame[self.key].tolist())
        ]


def grid_key(wh: Any, schema: str, table: str) -> str | None:
    """The key the table's edits use: the change log's, else the table's (one column); None if neither."""
    return _table_key(wh, schema, table, _edits_of(wh, f"{schema}.{table}")[0])


def _table_key(wh: Any, schema: str, table: str, used: str | None) -> str | None:
    if used is not None:
        return used
    keys = wh.key_of(schema, table)
    return keys[0] if len(keys) == 1 else None


def _edits_of(wh: Any, label: str) -> tuple[str | None, str | None, int]:
    """What the change log says of table ``label``, in one query: the key its edits used, the key
    of those ``wh.overlaid`` layers on reads (None when it layers none), and how many of those are
    row deletes (a page in key order reads that many synced rows more)."""
    if not wh.change_log.exists():
        return None, None, 0
    log = CHANGE_LOG
    mine = log.c.table_name == label
    layered = sa.and_(mine, log.c.retired_at.is_(None))
    query = sa.select(
        sa.select(log.c.pk_field).where(mine).limit(1).scalar_subquery(),
        sa.select(log.c.pk_field).where(layered).limit(1).scalar_subquery(),
        sa.select(sa.func.count()).select_from(log).where(layered, log.c.type == "d").scalar_subquery(),
    )
    with wh.engine.connect() as conn:
        used, layered_key, deleted = conn.execute(query).one()
    if not dialect_of(wh.engine).capabilities.change_log_overlay:
        return used, None, 0
    return used, layered_key, deleted or 0


def _matching(
    wh: Any, base: sa.Table, view: sa.Subquery, column: str | None, text: str | None
) -> sa.ColumnElement | None:
    """The filter: ``text`` inside the cell of ``column`` (any column when None), case-insensitive."""
    if not text:
        return None
    pattern = "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    if column is not None:
        wh.check_columns(base, [column], "pick a column of the table to filter on")
        return sa.cast(view.c[column], sa.Text).ilike(pattern, escape="!")
    return sa.or_(*(sa.cast(c, sa.Text).ilike(pattern, escape="!") for c in view.c))


def read_page(
    wh: Any,
    schema: str,
    table: str,
    *,
    offset: int = 0,
    limit: int = 100,
    sort: str | None = None,
    descending: bool = False,
    filter_column: str | None = None,
    filter_text: str | None = None,
    count: bool = True,
    base: sa.Table | None = None,
) -> GridPage:
    """Rows ``offset``…``offset+limit`` of ``schema.table`` with the edits layered on, by ``sort``
    (else by the key, else as the store returns them). ``base``: the table as ``wh.table``
    described it in this request, when the page read it already (else read here)."""
    if limit < 1 or offset < 0:
        raise WarehouseError(
            wh.name,
            f"table '{schema}.{table}'",
            f"page of {limit} rows from row {offset}: use a positive page size and offset",
        )
    base = wh.table(schema, table) if base is None else base
    used, layered, deleted = _edits_of(wh, f"{base.schema}.{base.name}")
    key = _table_key(wh, schema, table, used)
    first = (
        _first_rows(wh, base, key, layered, offset + limit + deleted, descending)
        if sort is None and not filter_text
        else None
    )
    view = (
        wh.overlaid(base).subquery("shown") if first is None else first
    )  # the whole overlay, when a sort or filter needs it
    where = _matching(wh, base, view, filter_column, filter_text)
    query = sa.select(view)
    if where is not None:
        query = query.where(where)
    if sort is not None:
        wh.check_columns(base, [sort], "pick a column of the table to sort by")
        order = view.c[sort].desc().nulls_last() if descending else view.c[sort].asc().nulls_last()
        query = query.order_by(order, *([view.c[key]] if key and key != sort else []))
    elif key is not None:  # pages of an unordered join would overlap: key order keeps them apart
        query = query.order_by(view.c[key].desc() if descending else view.c[key])
    page_query = query.limit(limit).offset(offset)
    if count:
        rows, counted = together(wh, [page_query, _count_query(base, layered, view, where)])
        total = int(counted.column(0)[0].as_py())
    else:
        rows, total = arrow(wh, page_query), None
    frame = shaped(rows, df=True)
    page = GridPage(f"{schema}.{table}", key, frame, total, offset)
    if key is not None and key in frame.columns and len(frame):
        _mark(wh, page, [str(k) for k in frame[key].tolist()])
    return page


def _first_rows(
    wh: Any, base: sa.Table, key: str | None, layered: str | None, window: int, descending: bool
) -> sa.Subquery | None:
    """The overlaid table's first rows in key order, read from the synced table's first ``window``
    rows only (the page's last row plus one for each layered delete): the overlay decides each row
    by its own key, so those rows hold every one of the page's, and a row it appends past them sorts
    after them. None when the table has no layered edits under ``key`` (the plain table is as fast)."""
    label = f"{base.schema}.{base.name}"
    if key is None or layered != key:
        return None
    order = base.c[key].desc() if descending else base.c[key]
    # MATERIALIZED: the overlay and the edge read the window three times; DuckDB would sort the table for each
    first = sa.select(base).order_by(order).limit(window).cte("first_synced").prefix_with("MATERIALIZED")
    return overlay_select(
        dialect_of(wh.engine), first, key, label, keys=_within(first.c[key], window, descending)
    ).subquery("shown")


def _within(
    synced_key: sa.ColumnElement, window: int, descending: bool
) -> Callable[[sa.ColumnElement], sa.ColumnElement]:
    """Which edits can change the first rows: those up to the last key of a full window of synced
    rows without a NULL key (its rows left after every delete fill the page, and any other row
    sorts after them); all, when the window is short (a row appended may sort into the page) or
    holds a NULL key (NULLs sort apart)."""
    window_rows = synced_key.table
    last = sa.func.min(synced_key) if descending else sa.func.max(synced_key)
    full = sa.and_(sa.func.count() == window, sa.func.count(synced_key) == window)
    edge = sa.select(sa.case((full, last))).select_from(window_rows).scalar_subquery()
    return lambda key: sa.or_(edge.is_(None), key >= edge if descending else key <= edge)


def _count_query(base: sa.Table, layered: str | None, view: sa.Subquery, where: sa.ColumnElement | None) -> sa.Select:
    """How many rows the overlaid table has (that match ``where``), counted now, never kept: a
    filter counts over the whole overlay ``view`` (a cell edit can make a row match), the whole
    table from the synced rows and the edits' added and deleted rows (``overlay_count_select``)."""
    if where is not None:
        return sa.select(sa.func.count()).select_from(view).where(where)
    label = f"{base.schema}.{base.name}"
    return (
        sa.select(sa.func.count()).select_from(base) if layered is None else overlay_count_select(base, layered, label)
    )


def _mark(wh: Any, page: GridPage, keys: list[str]) -> None:
    """Note the page's cells and rows that show an edit still layered (not retired)."""
    if not wh.change_log.exists():
        return
    log = CHANGE_LOG
    query = sa.select(log.c.row_pk, log.c.field, log.c.type).where(
        log.c.table_name == page.table,
        log.c.retired_at.is_(None),
        log.c.type.in_(["u", "i"]),
        log.c.row_pk.in_(keys),
    )
    with wh.engine.connect() as conn:
        for row_pk, column, kind in conn.execute(query):
            if kind == "i":
                page.inserted_rows.add(row_pk)
            else:
                page.edited_cells.add((row_pk, column))
