"""The cockpit's grid data on both stores: one page with the change log layered on, edited cells
marked, sorted, filtered and counted; a store a run holds is refused naming the run."""

from __future__ import annotations

import pytest

from stagehouse.connectors import WarehouseError
from stagehouse.flows.ui.grid import read_page
from stagehouse.flows.ui.store_access import RunInProgressError, busy_with, forget_clients, store_session


@pytest.fixture
def people(project):
    with project.warehouse() as wh:
        wh.write(
            "crm",
            "people",
            [{"id": i, "name": f"person {i}", "city": "Ghent" if i % 2 else "Leuven"} for i in range(1, 31)],
            pk="id",
        )
        wh.update_cell("crm.people", "name", 3, "Ada", user="ana")
        wh.insert_row("crm.people", {"id": 100, "name": "New Co", "city": "Mons"})
        wh.delete_row("crm.people", 4)
    yield project
    forget_clients()


def test_a_page_shows_the_edits_marked_sorted_filtered_and_counted(people):
    with store_session() as wh:
        page = read_page(wh, "crm", "people", limit=5, sort="id")
        assert page.key == "id" and page.total == 30  # 30 synced, one deleted, one inserted
        assert page.frame["id"].tolist() == [1, 2, 3, 5, 6]
        assert page.frame.set_index("id").loc[3, "name"] == "Ada"
        assert page.is_edited(3, "name") and not page.is_edited(3, "city") and not page.is_edited(1, "name")
        assert page.marks()[2] == [False, True, False]

        last = read_page(wh, "crm", "people", limit=5, sort="id", descending=True)
        assert last.frame["id"].tolist()[:2] == [100, 30] and last.is_edited(100, "city")

        mons = read_page(wh, "crm", "people", filter_column="city", filter_text="mon")
        assert mons.frame["id"].tolist() == [100] and mons.total == 1
        anywhere = read_page(wh, "crm", "people", filter_text="ADA", sort="id")
        assert anywhere.frame["id"].tolist() == [3]
        assert read_page(wh, "crm", "people", filter_text="100%").total == 0  # % is a character, not a wildcard
        assert read_page(wh, "crm", "people", filter_text="x' OR '1'='1").total == 0  # a quote is a character too

        second = read_page(wh, "crm", "people", offset=5, limit=5, sort="id")
        assert second.frame["id"].tolist() == [7, 8, 9, 10, 11]


def test_unknown_sort_or_filter_columns_are_refused_with_the_columns(people):
    with store_session() as wh:
        with pytest.raises(WarehouseError, match=r"no column 'nme'; did you mean name\?"):
            read_page(wh, "crm", "people", sort="nme")
        with pytest.raises(WarehouseError, match=r"no column 'cty'"):
            read_page(wh, "crm", "people", filter_column="cty", filter_text="x")
        with pytest.raises(WarehouseError, match=r"crm.peple"):
            read_page(wh, "crm", "peple")


@pytest.mark.parametrize("instance", ["local"], indirect=False, ids=["duckdb"])
def test_a_run_holding_the_duckdb_store_is_named_and_nothing_opens(project):
    import filelock

    from stagehouse.flows.run_lock import _noted
    from stagehouse.flows.ui.store_access import store_lock_path

    with project.warehouse() as wh:
        wh.write("crm", "people", [{"id": 1, "name": "a"}], pk="id")
    path = store_lock_path(None)
    lock = filelock.FileLock(path, thread_local=False)
    with lock, _noted(path, {"run_id": "abc123", "flow": "crm_sync", "pid": 4242, "host": "box"}):
        assert busy_with(None).startswith("run abc123 of flow crm_sync")
        with pytest.raises(
            RunInProgressError, match=r"run abc123 of flow crm_sync .* holds the DuckDB store; .*edits are refused"
        ):
            with store_session():
                pass
    assert busy_with(None) is None
    with store_session() as wh:
        assert read_page(wh, "crm", "people").total == 1


def test_the_row_count_follows_added_and_deleted_rows_and_a_filter_follows_cell_edits(people):
    with store_session() as wh:
        assert read_page(wh, "crm", "people").total == 30
        wh.insert_row("crm.people", {"id": 200, "name": "Zed", "city": "Aalst"})
        assert read_page(wh, "crm", "people").total == 31
        wh.delete_row("crm.people", 1)
        wh.delete_row("crm.people", 2)
        assert read_page(wh, "crm", "people").total == 29
        assert read_page(wh, "crm", "people", filter_text="Zoe").total == 0
        wh.update_cell("crm.people", "name", 5, "Zoe")
        assert read_page(wh, "crm", "people", filter_text="Zoe").total == 1
        wh.execute("INSERT INTO crm.people (id, name, city) VALUES (300, 'synced', 'Ghent')")  # a sync's new row
        assert read_page(wh, "crm", "people").total == 30


def test_pages_in_key_order_are_slices_of_the_whole_overlaid_table(people):
    with store_session() as wh:
        for row in (6, 7, 8, 9, 31, 32):
            wh.delete_row("crm.people", row) if row < 31 else wh.insert_row(
                "crm.people", {"id": row, "name": f"new {row}", "city": "Lier"}
            )
        wh.insert_row("crm.people", {"id": 0, "name": "first", "city": "Lier"})
        wh.update_cell("crm.people", "city", 10, "Diest")
        whole = wh.fetch("crm", "people", df=True).sort_values("id")
        for descending in (False, True):
            ordered = whole["id"].tolist()[::-1] if descending else whole["id"].tolist()
            for offset in range(0, 35, 4):
                page = read_page(wh, "crm", "people", offset=offset, limit=4, descending=descending, count=False)
                assert page.frame["id"].tolist() == ordered[offset : offset + 4], (descending, offset)
        assert read_page(wh, "crm", "people", offset=4, limit=4).frame.set_index("id").loc[10, "city"] == "Diest"
