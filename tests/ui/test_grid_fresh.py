"""The grid shows the store as it is when the page is read, on both stores: an edit or an in-place
write made by another process and a table a run replaced show on the next page, counted exactly
(the PostgreSQL grid reads on connections it keeps), and a page layers exactly its rows' edits."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from stagehouse.flows.ui.grid import read_page
from stagehouse.flows.ui.store_access import forget_clients, store_session
from tests.sources import write_shop


def elsewhere(code: str) -> None:
    """Run ``code`` in a process of its own, with the store's warehouse client as ``wh``."""
    script = (
        "from stagehouse.connectors import connect\nwh = connect('warehouse')\n"
        + textwrap.dedent(code)
        + "\nwh.close()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def page(table: str = "people", **options):
    with store_session() as wh:
        return read_page(wh, "crm", table, **options)


@pytest.fixture
def people(project):
    with project.warehouse() as wh:
        wh.write("crm", "people", [{"id": i, "name": f"person {i}", "city": "Ghent"} for i in range(1, 301)], pk="id")
        wh.update_cell("crm.people", "name", 3, "Ada", user="ana")
    yield project
    forget_clients()


def test_edits_made_by_another_process_show_on_the_next_page(people):
    before = page(limit=10)
    assert before.total == 300 and before.frame.set_index("id").loc[5, "name"] == "person 5"
    elsewhere("""
        wh.update_cell("crm.people", "name", 5, "Eve", user="other")
        wh.insert_row("crm.people", {"id": 0, "name": "zero", "city": "Lier"}, user="other")
        wh.delete_row("crm.people", 7, user="other")
    """)
    after = page(limit=10)
    assert after.total == 300 and after.frame["id"].tolist() == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert (
        after.frame.set_index("id").loc[5, "name"] == "Eve"
        and after.is_edited(5, "name")
        and after.is_edited(0, "city")
    )


def test_in_place_writes_of_another_process_show_and_are_counted_on_the_next_page(people):
    assert page(limit=10).total == 300 and page(filter_text="Mons").total == 0
    elsewhere("""
        wh.execute("UPDATE crm.people SET city = 'Mons' WHERE id = 4")
        wh.execute("INSERT INTO crm.people (id, name, city) VALUES (301, 'synced', 'Aalst')")
        wh.execute("DELETE FROM crm.people WHERE id IN (1, 2)")
    """)
    after = page(limit=10)
    assert after.total == 299 and after.frame["id"].tolist()[:3] == [3, 4, 5]
    assert after.frame.set_index("id").loc[4, "city"] == "Mons" and not after.is_edited(4, "city")
    assert page(limit=10, descending=True).frame["id"].tolist()[0] == 301
    assert page(filter_text="Mons").total == 1


def test_a_table_a_run_replaced_shows_on_the_next_page(project):
    from stagehouse.flows import load_flow, run_flow

    write_shop(project.files)
    assert run_flow(load_flow("files_mart"), stages=["raw"], instance=project.instance).ok
    with project.warehouse() as wh:
        wh.update_cell("raw.customers", "name", 20, "Bea (edited)", user="ana")
    try:
        with store_session() as wh:
            before = read_page(wh, "raw", "customers")
        assert before.total == 2 and before.frame["name"].tolist() == ["ada", "Bea (edited)"]
        write_shop(project.files, customers=[(10, "ada"), (20, "bob"), (30, "cy")])
        assert run_flow(load_flow("files_mart"), stages=["raw"], instance=project.instance).ok
        with store_session() as wh:
            after = read_page(wh, "raw", "customers")
        assert (
            after.total == 3
            and after.frame["name"].tolist() == ["ada", "Bea (edited)", "cy"]
            and after.is_edited(20, "name")
        )
    finally:
        forget_clients()


def test_each_page_layers_exactly_the_edits_of_its_rows(people):
    with store_session() as wh:
        wh.write("crm", "tags", [{"code": "vip", "label": "VIP"}], pk="code")
        wh.update_cell("crm.tags", "label", "vip", "V.I.P.")  # another table's key, not a number, in the same log
        wh.insert_row("crm.people", {"id": 400, "name": "late", "city": "Lier"})
        wh.update_cell("crm.people", "city", 400, "Diest")  # an added row edited after
        wh.insert_row("crm.people", {"id": -1, "name": "early", "city": "Lier"})
        wh.insert_row("crm.people", {"id": 350, "name": "gone", "city": "Lier"})
        wh.delete_row("crm.people", 350)
        wh.delete_row("crm.people", 12)
        wh.insert_row("crm.people", {"id": 12, "name": "back", "city": "Lier"})  # a deleted row added again
        for row in (2, 11, 150, 299):
            wh.update_cell("crm.people", "city", row, f"city {row}")
        whole = wh.fetch("crm", "people", df=True).sort_values("id").reset_index(drop=True)
        for descending in (False, True):
            ordered = whole.iloc[::-1].reset_index(drop=True) if descending else whole
            for offset in (0, 8, 145, 290, 296):
                shown = read_page(wh, "crm", "people", offset=offset, limit=8, descending=descending, count=False).frame
                expected = ordered.iloc[offset : offset + 8].reset_index(drop=True)
                assert shown.to_dict("records") == expected[shown.columns].to_dict("records"), (descending, offset)
        assert read_page(wh, "crm", "people").total == 302 == len(whole)


@pytest.mark.parametrize("instance", ["postgres"], ids=["postgres"])
def test_a_column_of_a_type_made_after_the_grid_connected_shows_its_values(people):
    assert page(limit=5).total == 300  # the grid's connections are open now
    elsewhere("""
        wh.execute("CREATE TYPE crm.mood AS ENUM ('calm', 'busy')")
        wh.execute("CREATE TABLE crm.moods (id bigint PRIMARY KEY, mood crm.mood)")
        wh.execute("INSERT INTO crm.moods VALUES (1, 'calm'), (2, 'busy')")
    """)
    assert page("moods").frame["mood"].tolist() == ["calm", "busy"]
