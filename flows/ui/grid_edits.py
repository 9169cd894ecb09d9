"""The grid's edits as change-log entries: changed cells, added rows and deleted rows.

``st.data_editor`` reports what a user did to the page it showed as ``edited_rows`` (row position
-> {column: value}), ``added_rows`` and ``deleted_rows``; ``edits_from_editor`` turns that into
keyed edits, and ``save_edits`` checks them all before it records any (``update_cell``,
``insert_row``, ``delete_row`` with the user's name), so a value that does not fit is refused
with one line naming the table, row and column, and nothing of that save is logged.

Example::

    edits = edits_from_editor(page.frame, "id", st.session_state["grid"])
    with store_session() as wh:
        ids = save_edits(wh, "raw.customers", "id", edits, user="ana")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stagehouse.connectors.errors import StagehouseError, WarehouseError
from stagehouse.connectors.sql.edit_values import check_fits, fitted
from stagehouse.connectors.sql.identifiers import checked_table


class EditRefusedError(StagehouseError):
    """An edit of the grid does not fit its table; nothing of the save was recorded."""

    def __init__(self, table: str, row: Any, column: str | None, problem: str) -> None:
        where = f"table '{table}', row {row!r}" + (f", column '{column}'" if column else "")
        super().__init__(
            f"{where}: {problem}; nothing was saved, correct it and save again",
            table=table,
            row=row,
            column=column,
            problem=problem,
        )


@dataclass
class GridEdits:
    """Keyed edits of one table: cell updates (row key, column, value), new rows, deleted row keys."""

    updates: list[tuple[Any, str, Any]] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.updates or self.inserts or self.deletes)

    def __len__(self) -> int:
        return len(self.updates) + len(self.inserts) + len(self.deletes)


def plain(value: Any) -> Any:
    """A grid value as a plain Python value: NaN/NaT -> None, numpy scalars -> Python, Timestamp -> datetime."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        try:
            return value.to_pydatetime()
        except ValueError:  # NaT
            return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ == "NaTType":
        return None
    return value


def edits_from_editor(frame: Any, key: str, state: dict[str, Any]) -> GridEdits:
    """The keyed edits of ``st.data_editor``'s state over ``frame`` (the page it showed)."""
    keys = frame[key].tolist()
    edits = GridEdits()
    for position, cells in sorted((state.get("edited_rows") or {}).items(), key=lambda item: int(item[0])):
        row_pk = plain(keys[int(position)])
        for column, value in cells.items():
            edits.updates.append((row_pk, column, plain(value)))
    for row in state.get("added_rows") or []:
        record = {column: plain(value) for column, value in row.items() if plain(value) is not None}
        if record:
            edits.inserts.append(record)
    edits.deletes = [plain(keys[int(position)]) for position in state.get("deleted_rows") or []]
    return edits


def check_edits(wh: Any, table: str, key: str, edits: GridEdits) -> None:
    """Refuse the first edit that does not fit (``EditRefusedError``); records nothing."""
    schema, name = checked_table(wh.name, table)
    base = wh.table(schema, name)
    label = f"{base.schema}.{base.name}"
    for row_pk, column, value in edits.updates:
        if column == key:
            raise EditRefusedError(
                label, row_pk, column, f"'{key}' is the row's key; delete the row and add a new one instead"
            )
        _fits(wh, base, label, row_pk, {column: value}, column)
    for record in edits.inserts:
        if record.get(key) is None:
            raise EditRefusedError(label, None, key, f"a new row needs a value for its key '{key}'")
        _fits(wh, base, label, record[key], record, None)


def _fits(wh: Any, base: Any, label: str, row_pk: Any, values: dict[str, Any], column: str | None) -> None:
    try:
        wh.check_columns(base, values)
        check_fits(wh.name, wh.engine, base, fitted(base, values), row_pk, wh.source_lengths(base))
    except WarehouseError as exc:
        problem = str(exc).split(": ", 2)[-1]
        raise EditRefusedError(label, row_pk, column, problem) from exc


def save_edits(wh: Any, table: str, key: str, edits: GridEdits, *, user: str) -> list[int]:
    """Check every edit, then record each in the change log as ``user``; returns the change ids."""
    check_edits(wh, table, key, edits)
    ids = [wh.update_cell(table, column, row_pk, value, pk=key, user=user) for row_pk, column, value in edits.updates]
    ids += [wh.insert_row(table, record, pk=key, user=user) for record in edits.inserts]
    ids += [wh.delete_row(table, row_pk, pk=key, user=user) for row_pk in edits.deletes]
    return ids
