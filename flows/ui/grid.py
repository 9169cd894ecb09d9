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

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError
from stagehouse.connectors.sql.changelog import CHANGE_LOG
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
    """Rows ``offset``…``offset+limit`` of ``schema.table`` with the edits layered on."""
    if limit < 1 or offset < 0:
        raise WarehouseError(wh.name, f"table '{schema}.{table}'", f"page of {limit} rows from row {offset}: use a positive page size and offset")
    base = wh.table(schema, table)
    key = grid_key(wh, schema, table)
    view = wh.overlaid(base).subquery("shown")
    where = _matching(wh, base, view, filter_column, filter_text)
    query = sa.select(view)
    if where is not None:
        query = query.where(where)
    if sort is not None:
        wh.check_columns(base, [sort], "pick a column of the table to sort by")
        order = view.c[sort].desc().nulls_last() if descending else view.c[sort].asc().nulls_last()
        query = query.order_by(order, *([view.c[key]] if key and key != sort else []))
    frame = shaped(wh.arrow(query.limit(limit).offset(offset)), df=True)
    total = None
    if count:
        counted = sa.select(sa.func.count()).select_from(view)
        total = int(wh.arrow(counted.where(where) if where is not None else counted).column(0)[0].as_py())
    page = GridPage(f"{schema}.{table}", key, frame, total, offset)
    if key is not None and key in frame.columns and len(frame):
        _mark(wh, page, [str(k) for k in frame[key].tolist()])
    return page


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
