"""Tables: the store's schemas and tables, a table's description and columns, and its rows with
the change log's edits layered on (edited cells marked), paged, sorted and filtered in the database."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from pandas.io.formats.style import Styler

from stagehouse.connectors.sql.described import native_spec
from stagehouse.flows.ui.grid import PAGE_SIZES, GridPage, read_page
from stagehouse.flows.ui.reads import soon
from stagehouse.flows.ui.streamlit_extra import st
from stagehouse.flows.ui.views.common import EDITED_COLOUR, pick_table, shown, store

STORED_ORDER = "(key order)"
ANY_COLUMN = "(any column)"


def grid_controls(columns: list[str], prefix: str) -> dict[str, Any]:
    """Sort, filter and page size pickers; their values as ``read_page`` arguments."""
    left, middle, right, size = st.columns([2, 2, 3, 1])
    sort = left.selectbox("Sort by", [STORED_ORDER, *columns], key=f"{prefix}_sort")
    descending = left.checkbox("Descending", key=f"{prefix}_desc")
    filter_column = middle.selectbox("Filter column", [ANY_COLUMN, *columns], key=f"{prefix}_filter_column")
    filter_text = right.text_input("Filter (contains)", key=f"{prefix}_filter")
    limit = size.selectbox("Rows", PAGE_SIZES, index=1, key=f"{prefix}_limit")
    return {
        "sort": None if sort == STORED_ORDER else sort,
        "descending": descending,
        "filter_column": None if filter_column == ANY_COLUMN else filter_column,
        "filter_text": filter_text or None,
        "limit": limit,
    }


def page_number(total: int | None, limit: int, prefix: str) -> int:
    pages = max(1, math.ceil((total or 0) / limit))
    return int(
        st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1, key=f"{prefix}_page")
    )


def styled(page: GridPage) -> Any:
    """The page's frame with an ``edited`` column naming each row's edited columns, and the edited
    cells coloured. Streamlit renders a Styler cell by cell (more than the page's query costs), so
    a page without edits goes as its plain frame, and a Styler formats and styles the edited rows'
    cells only: the others are hidden from the Styler, not from the grid (Streamlit shows every row
    of the frame, and a cell the Styler leaves as it is, as on a plain frame; ``cell_ids=False``)."""
    columns = list(page.frame.columns)
    marks = page.marks()
    frame = page.frame.copy()
    frame.insert(
        0,
        "edited",
        ["✎ " + ", ".join(c for c, m in zip(columns, row, strict=True) if m) if any(row) else "" for row in marks],
    )
    if not any(any(row) for row in marks):
        return frame
    styler = Styler(frame, cell_ids=False).format(str)
    styler.hide([frame.index[r] for r, row in enumerate(marks) if not any(row)], axis="index")
    for c, column in enumerate(columns):
        rows = [frame.index[r] for r, row in enumerate(marks) if row[c]]
        if rows:
            styler = styler.map(lambda _: EDITED_COLOUR, subset=(rows, [column]))
    return styler


def edited_summary(page: GridPage) -> str:
    cells = sorted(page.edited_cells, key=lambda cell: (cell[0], cell[1]))
    parts = [f"row {row} · {column}" for row, column in cells] + [
        f"row {row} (added)" for row in sorted(page.inserted_rows)
    ]
    return "Edited on this page: " + "; ".join(parts) if parts else "No edits on this page."


def render() -> None:
    st.header("Tables")
    with shown(), store() as wh:
        table = pick_table(wh, "tables_table")
        if table is None:
            return
        schema, name = table.split(".", 1)
        base = wh.table(schema, name)  # read once a request: the controls, the page and the columns use it
        described = soon(wh, partial(wh.descriptions, fields=False), schema, name)  # beside the page's reads
        about = st.container()
        controls = grid_controls([c.name for c in base.columns], "tables")
        first = read_page(
            wh, schema, name, offset=0, limit=controls["limit"], count=True, base=base, **_without(controls, "limit")
        )
        with about:
            describe(wh, base, described.result()[0])
        number = page_number(first.total, controls["limit"], "tables")
        page = (
            first
            if number == 1
            else read_page(
                wh, schema, name, offset=(number - 1) * controls["limit"], count=False, base=base, **controls
            )
        )
        page.total = first.total
        st.markdown(
            f"**{page.total:,} rows** · key: `{page.key or 'none'}` · rows "
            f"{page.offset + 1:,}–{page.offset + len(page.frame):,}"
        )
        st.dataframe(styled(page), hide_index=True, width="stretch", key="tables_grid")
        st.caption(edited_summary(page))


def describe(wh: Any, base: Any, description: str | None) -> None:
    """The table's description, and its columns (type, key, description) once the user opens
    them: only then are the columns' descriptions and the key read (a catalog read of their own)."""
    st.caption(description or "(no description: add one on the Edit page)")
    with st.expander(f"Columns ({len(base.columns)})", key="tables_columns", on_change="rerun") as columns:
        if not columns.open:
            return
        described = wh.descriptions(base.schema, base.name)[1]
        key = wh.key_of(base.schema, base.name)
        fields = [
            {
                "column": c.name,
                "type": native_spec(c.type),
                "key": "🔑" if c.name in key else "",
                "description": described.get(c.name) or "",
            }
            for c in base.columns
        ]
        st.dataframe(fields, hide_index=True, width="stretch", key="tables_columns_grid")


def _without(controls: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in controls.items() if k not in names}
