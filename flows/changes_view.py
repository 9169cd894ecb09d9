"""The table ``stagehouse changes`` prints: the change log fitted to the terminal's width.

Folding ten columns into 80 characters wrapped each JSON value to a few characters a line. Here
values read as text (a string without its JSON quotes, a row as compact JSON), the short columns
keep their whole width, old and new values share the room left and are cut with '…', who/when
are dropped first when there is no room, and writeback errors follow the table whole, one per
change. ``wide=True`` puts every column in the table with whole values.

Example::

    console.print(changes_view(rows, "changes of raw.customers", width=console.width))
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STYLES = {
    "PROCESSED": "green",
    "NOT_PROCESSED": "yellow",
    "PROCESSING": "cyan",
    "FAILED": "bold red",
    "CONFLICT": "magenta",
}
COLUMNS = ("id", "row", "field", "old", "new", "by", "at", "status", "error")
FITTED = COLUMNS[:-1]  # the fitted table; errors follow it
VALUES = ("old", "new")  # share the room the other columns leave
OPTIONAL = ("at", "by")  # dropped, in this order, when the values would get less than MIN_VALUE
MIN_VALUE = 12
MAX_WIDTH = {"id": 8, "row": 20, "field": 20, "by": 12, "at": 16, "status": 13}
GAP = 2  # between two columns: the padding of each
ROW_EDITS = {"i": "(new row)", "d": "(deleted)"}


def _value(text: str | None) -> str:
    """A JSON value as a user reads it: a string without quotes, anything else as compact JSON."""
    if text is None:
        return ""
    value = json.loads(text)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def change_cells(row: dict[str, Any], wide: bool = False) -> dict[str, str]:
    """One change-log row as the table's text cells."""
    kind = row["type"]
    return {
        "id": str(row["id"]),
        "row": row["row_pk"],
        "field": ROW_EDITS.get(kind, row["field"] or ""),
        "old": "" if kind == "i" else _value(row["old_value"]),
        "new": "" if kind == "d" else _value(row["new_value"]),
        "by": row["changed_by"] or "",
        "at": f"{row['changed_at']:%Y-%m-%d %H:%M{':%S' if wide else ''}}",
        "status": row["writeback_status"],
        "error": " ".join((row["error"] or "").split()),
    }


def column_widths(cells: list[dict[str, str]], width: int) -> dict[str, int]:
    """The columns that fit ``width`` and the width of each: short columns whole (up to
    ``MAX_WIDTH``), the values sharing what is left, each no wider than its longest cell."""
    natural = {c: max([len(c), *(len(cell[c]) for cell in cells)]) for c in FITTED}
    shown = list(FITTED)
    for dropped in (None, *OPTIONAL):
        if dropped:
            shown.remove(dropped)
        fixed = {c: min(natural[c], MAX_WIDTH[c]) for c in shown if c not in VALUES}
        room = width - sum(fixed.values()) - GAP * (len(shown) - 1)
        if room >= MIN_VALUE * len(VALUES):
            break
    shared = {}
    for index, column in enumerate(
        sorted(VALUES, key=natural.__getitem__)
    ):  # a short value leaves its room to the long
        shared[column] = max(len(column), min(natural[column], room // (len(VALUES) - index)))
        room -= shared[column]
    return {c: fixed.get(c) or shared[c] for c in shown}


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def changes_view(rows: list[dict[str, Any]], title: str, *, width: int, wide: bool = False) -> RenderableType:
    """The rows of ``list_changes`` as a table no wider than ``width`` with the errors after it,
    or (``wide``) one table of every column at any width."""
    cells = [change_cells(row, wide) for row in rows]
    widths = (
        {c: max([len(c), *(len(cell[c]) for cell in cells)]) for c in COLUMNS} if wide else column_widths(cells, width)
    )
    view = Table(title=title, box=None, pad_edge=False, title_justify="left", header_style="bold underline")
    for column in widths:
        view.add_column(column, width=widths[column], no_wrap=True)
    for cell in cells:
        view.add_row(
            *(Text(_cut(cell[c], widths[c]), style=STYLES.get(cell[c], "") if c == "status" else "") for c in widths)
        )
    errors = [Text(f"{cell['id']}: {cell['error']}") for cell in cells if cell["error"] and not wide]
    return Group(view, Text("errors", style="bold underline"), *errors) if errors else view
