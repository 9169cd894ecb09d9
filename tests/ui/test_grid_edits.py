"""The grid's edits become change-log entries with the user's name; a bad value refuses the whole save."""

from __future__ import annotations

import pytest

from stagehouse.flows.ui.grid import read_page
from stagehouse.flows.ui.grid_edits import EditRefusedError, GridEdits, edits_from_editor, save_edits
from stagehouse.flows.ui.store_access import forget_clients, store_session


@pytest.fixture
def people(project):
    with project.warehouse() as wh:
        wh.write("crm", "people", [{"id": i, "name": f"person {i}", "age": 20 + i} for i in range(1, 6)], pk="id")
    yield project
    forget_clients()


def test_editor_state_is_saved_as_cell_row_and_delete_edits(people):
    with store_session() as wh:
        page = read_page(wh, "crm", "people", sort="id")
        state = {
            "edited_rows": {1: {"name": "Bea", "age": 33}},
            "added_rows": [{"id": 9, "name": "Nine", "age": None}],
            "deleted_rows": [4],
        }
        edits = edits_from_editor(page.frame, "id", state)
        assert (
            edits.updates == [(2, "name", "Bea"), (2, "age", 33)]
            and edits.inserts == [{"id": 9, "name": "Nine"}]
            and edits.deletes == [5]
        )
        ids = save_edits(wh, "crm.people", "id", edits, user="ana")
        assert len(ids) == 4
        changes = wh.list_changes("crm.people")
        assert [(c["type"], c["row_pk"], c["field"], c["changed_by"]) for c in changes] == [
            ("u", "2", "name", "ana"),
            ("u", "2", "age", "ana"),
            ("i", "9", None, "ana"),
            ("d", "5", None, "ana"),
        ]
        after = read_page(wh, "crm", "people", sort="id")
        assert after.frame["id"].tolist() == [1, 2, 3, 4, 9]
        assert after.is_edited(2, "age") and after.is_edited(9, "name") and not after.is_edited(1, "age")


def test_a_value_that_does_not_fit_refuses_the_whole_save(people):
    with store_session() as wh:
        edits = GridEdits(updates=[(1, "name", "fine"), (2, "age", "old")])
        with pytest.raises(
            EditRefusedError,
            match=r"table 'crm.people', row 2, column 'age': 'old' does not fit column 'age' .*nothing was saved",
        ):
            save_edits(wh, "crm.people", "id", edits, user="ana")
        with pytest.raises(EditRefusedError, match=r"row 1, column 'id': 'id' is the row's key"):
            save_edits(wh, "crm.people", "id", GridEdits(updates=[(1, "id", 7)]), user="ana")
        with pytest.raises(EditRefusedError, match=r"a new row needs a value for its key 'id'"):
            save_edits(wh, "crm.people", "id", GridEdits(inserts=[{"name": "no key"}]), user="ana")
        assert wh.list_changes("crm.people") == []
