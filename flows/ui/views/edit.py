"""Edit: change cells, add and delete rows of a keyed table in a grid (each a change-log entry under
the user's name; the synced table is never touched), one cell by its key, and the descriptions of
tables and columns.

Saves run as button callbacks, before the page is drawn again, so the grid drawn right after a
save already shows the new values (one script run, not two)."""

from __future__ import annotations

import json
from typing import Any

from stagehouse.flows.ui.grid import grid_key, read_page
from stagehouse.flows.ui.grid_edits import GridEdits, edits_from_editor, save_edits
from stagehouse.flows.ui.streamlit_extra import st
from stagehouse.flows.ui.views.common import pick_table, shown, store, user
from stagehouse.flows.ui.views.tables import grid_controls, page_number


def typed(text: str, column_type: str = "") -> Any:
    """A value typed in a text box: as is for a text column, else JSON when it parses (7, 1.5, true,
    null), else the text."""
    if any(word in column_type.upper() for word in ("CHAR", "TEXT", "STRING")):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _save(table: str, key: str, edits: GridEdits) -> None:
    """Record ``edits`` (a button's callback); the outcome is shown by the run that follows."""
    with shown_later():
        with store() as wh:
            ids = save_edits(wh, table, key, edits, user=user())
        st.session_state["edit_version"] = (
            st.session_state.get("edit_version", 0) + 1
        )  # a fresh grid shows the new values
        st.session_state["edit_saved"] = (
            f"Saved {len(ids)} edit{'s' if len(ids) != 1 else ''} to the change log as {user()}."
        )


class shown_later:
    """Like ``shown()``, for callbacks: the error is kept and shown at the top of the next run."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or not isinstance(error, Exception):
            return False
        st.session_state["edit_failed"] = error
        return True


def render() -> None:
    st.header("Edit")
    if message := st.session_state.pop("edit_saved", None):
        st.success(message)
    if failed := st.session_state.pop("edit_failed", None):
        with shown():
            raise failed
    with shown(), store() as wh:
        table = pick_table(wh, "edit_table")
        if table is None:
            return
        schema, name = table.split(".", 1)
        info = wh.get_table(schema, name)
        key = grid_key(wh, schema, name)
        columns = [f["name"] for f in info["fields"]]
        if key is None:
            st.warning(
                f"table '{table}' has no single-column key (in the database or declared by its sync or transform), "
                "so its rows cannot be edited; declare primary_key= on its sync or transform"
            )
        else:
            grid(wh, table, key, columns)
            one_cell(table, key, {f["name"]: f["type"] for f in info["fields"] if f["name"] != key})
        descriptions(wh, schema, name, info)


def grid(wh: Any, table: str, key: str, columns: list[str]) -> None:
    schema, name = table.split(".", 1)
    st.caption(
        f"Key: `{key}`. Change cells, add rows (with a key) or delete rows, then save: each becomes a change-log entry."
    )
    controls = grid_controls(columns, "edit")
    first = read_page(wh, schema, name, offset=0, count=True, **controls)
    number = page_number(first.total, controls["limit"], "edit")
    page = (
        first
        if number == 1
        else read_page(wh, schema, name, offset=(number - 1) * controls["limit"], count=False, **controls)
    )
    editor_key = f"editor_{table}_{number}_{st.session_state.get('edit_version', 0)}"
    st.data_editor(page.frame, num_rows="dynamic", hide_index=True, key=editor_key, width="stretch")
    state = st.session_state.get(editor_key) or {}
    edits = edits_from_editor(page.frame, key, state) if state else GridEdits()
    st.button(
        f"Save {len(edits)} edit{'s' if len(edits) != 1 else ''}",
        key="edit_save",
        disabled=not edits,
        type="primary",
        on_click=_save_grid,
        args=(table, key, page.frame, editor_key),
    )


def _save_grid(table: str, key: str, frame: Any, editor_key: str) -> None:
    """Save what the grid holds when the button is clicked (its last change included)."""
    _save(table, key, edits_from_editor(frame, key, st.session_state.get(editor_key) or {}))


def _save_cell(table: str, key: str, columns: dict[str, str]) -> None:
    column = st.session_state["cell_column"]
    value = typed(st.session_state["cell_value"], columns[column])
    _save(table, key, GridEdits(updates=[(typed(st.session_state["cell_row"]), column, value)]))


def one_cell(table: str, key: str, columns: dict[str, str]) -> None:
    with st.form("edit_cell", clear_on_submit=False):
        st.subheader("One cell")
        left, middle, right = st.columns(3)
        left.text_input(f"Row ({key})", key="cell_row")
        middle.selectbox("Column", list(columns), key="cell_column")
        right.text_input("New value", key="cell_value")
        st.form_submit_button("Save cell", on_click=_save_cell, args=(table, key, columns))


def descriptions(wh: Any, schema: str, name: str, info: dict[str, Any]) -> None:
    st.subheader("Descriptions")
    with st.form("edit_descriptions"):
        table_text = st.text_area("Table description", value=info.get("description") or "", key="describe_table")
        column = st.selectbox("Column", [f["name"] for f in info["fields"]], key="describe_column")
        column_text = st.text_input("Column description (left empty: unchanged)", key="describe_column_text")
        if st.form_submit_button("Save descriptions"):
            if table_text != (info.get("description") or ""):
                wh.update_table(schema, name, table_text)
            if column_text:
                wh.update_field(schema, name, column, column_text)
            st.session_state["edit_saved"] = "Descriptions saved."
            st.rerun()
