"""Every page of the cockpit through Streamlit's AppTest (no browser), on both stores."""

from __future__ import annotations

import pytest

from stagehouse.flows.ui.store_access import forget_clients
from tests.sources import write_shop
from tests.ui.cockpit import cockpit, frame, texts, wait_for_run


@pytest.fixture
def shop(project):
    """files_mart's raw stage synced from CSVs, a cell of raw.customers edited."""
    from stagehouse.flows import load_flow, run_flow

    write_shop(project.files)
    assert run_flow(load_flow("files_mart"), stages=["raw"], instance=project.instance).ok
    with project.warehouse() as wh:
        wh.update_cell("raw.customers", "name", 20, "Bea (edited)", user="ana")
    yield project
    forget_clients()


def test_tables_page_lists_tables_and_shows_a_page_with_edits_marked(shop):
    at = cockpit("Tables")
    at.selectbox(key="tables_table").set_value("raw.customers").run()
    assert "raw.customers" in at.selectbox(key="tables_table").options and not any(
        o.startswith("stagehouse_") for o in at.selectbox(key="tables_table").options
    )
    shown = frame(at, "tables_grid")
    assert "Bea (edited)" in shown["name"].tolist()
    assert "Edited on this page: row 20 · name" in texts(at)
    assert "rows** · key: `id`" in texts(at)
    at.text_input(key="tables_filter").input("bea").run()
    assert frame(at, "tables_grid")["id"].tolist() == [20] and "**1 rows**" in texts(at)
    at.selectbox(key="tables_sort").set_value("name").run()
    assert not at.error, texts(at)


def test_tables_page_reads_the_columns_descriptions_once_they_are_opened(shop):
    with shop.warehouse() as wh:
        wh.update_table("raw", "orders", "Orders from the shop")
        wh.update_field("raw", "orders", "amount", "in euro")
        table = wh.get_table("raw", "orders")
    at = cockpit("Tables")
    at.selectbox(key="tables_table").set_value("raw.orders").run()
    assert "Orders from the shop" in texts(at)
    assert not [d for d in at.dataframe if "key" in d.value.columns]  # closed: not read, not sent
    at.session_state["tables_columns"] = True
    at.run()
    columns = frame(at, "tables_columns").set_index("column")
    assert columns.loc["amount", "description"] == "in euro" and columns.loc["amount", "type"]
    assert columns.index[columns["key"] == "🔑"].tolist() == table["primary_key"] == ["order_id"]
    assert "Orders from the shop" in texts(at)


def test_edit_page_logs_a_cell_under_the_users_name_and_refuses_a_bad_value(shop):
    at = cockpit("Edit", user="ben")
    at.selectbox(key="edit_table").set_value("raw.orders").run()
    at.text_input(key="cell_row").input("1")
    at.selectbox(key="cell_column").set_value("amount")
    at.text_input(key="cell_value").input("not a number")
    at.button[[b.label for b in at.button].index("Save cell")].click().run()
    assert "table 'raw.orders', row 1, column 'amount'" in texts(at) and "nothing was saved" in texts(at)
    at.text_input(key="cell_value").input("99")
    at.button[[b.label for b in at.button].index("Save cell")].click().run()
    assert "Saved 1 edit to the change log as ben." in texts(at), texts(at)
    with shop.warehouse() as wh:
        [change] = wh.list_changes("raw.orders")
        assert (change["row_pk"], change["field"], change["new_value"], change["changed_by"]) == (
            "1",
            "amount",
            "99",
            "ben",
        )

    at.text_area(key="describe_table").input("Orders from the shop")
    at.selectbox(key="describe_column").set_value("amount")
    at.text_input(key="describe_column_text").input("in euro")
    at.button[[b.label for b in at.button].index("Save descriptions")].click().run()
    with shop.warehouse() as wh:
        table = wh.get_table("raw", "orders")
    assert table["description"] == "Orders from the shop"
    assert {f["name"]: f["description"] for f in table["fields"]}["amount"] == "in euro"


def test_changes_page_filters_shows_errors_resends_and_discards(shop):
    with shop.warehouse() as wh:
        synced_name = {row["id"]: row["name"] for row in wh.fetch("raw", "customers")}[10]
        failed = wh.update_cell("raw.customers", "name", 10, "Ada", user="ana")
        wh.update_change(failed, "FAILED", "HTTP 500 from crm: boom")
    at = cockpit("Changes")
    at.selectbox(key="changes_table").set_value("raw.customers").run()
    assert len(frame(at, "changes_grid")) == 2
    assert f"change {failed} (FAILED): HTTP 500 from crm: boom" in texts(at)
    at.multiselect(key="changes_status").select("FAILED").run()
    assert frame(at, "changes_grid")["id"].tolist() == [failed]
    at.number_input(key="change_id").set_value(failed)
    at.button[[b.label for b in at.button].index("Resend (NOT_PROCESSED)")].click().run()
    with shop.warehouse() as wh:
        assert wh.list_changes("raw.customers", writeback_status="FAILED") == []
    at.button[[b.label for b in at.button].index("Discard (never send, stop showing it)")].click().run()
    with shop.warehouse() as wh:
        [done] = wh.list_changes("raw.customers", writeback_status="DISCARDED")
        shown = {row["id"]: row["name"] for row in wh.fetch("raw", "customers")}[10]
    assert done["id"] == failed and done["error"].startswith("discarded by ")
    assert shown == synced_name  # the discarded edit no longer shows on reads
    assert f"change {failed} discarded" in texts(at) and "**DISCARDED** 1" in texts(at)
    assert "Start writeback: flow crm_writeback, stage writeback" in [
        b.label for b in at.button
    ]  # tests/flows/crm_writeback.py


def test_flows_page_runs_a_stage_in_the_background_and_follows_it(shop):
    at = cockpit("Flows and runs")
    flows = frame(at, "flows_grid")
    assert "files_mart" in flows["flow"].tolist()
    assert flows.set_index("flow").loc["files_mart", "last state"] == "SUCCESS"
    at.selectbox(key="flow_name").set_value("files_mart").run()
    at.selectbox(key="flow_stage").set_value("mart").run()
    at.button(key="flow_run").click().run()
    run_id = at.session_state["followed_run"]
    run = wait_for_run(shop.instance, run_id)
    assert run["status"] == "SUCCESS" and run["stages"] == "mart"
    at.run()
    assert f"Run {run_id}" in texts(at) and "state: **SUCCESS**" in texts(at)
    tasks = frame(at, "run_tasks")
    assert set(tasks[tasks["stage"] == "mart"]["state"]) == {"COMPLETED"} and "order_totals" in tasks["task"].tolist()
    at.multiselect(key="runs_status").select("SUCCESS").run()
    at.text_input(key="runs_flow").input("files_mart").run()
    assert frame(at, "runs_grid")["run_id"].tolist()[0] == run_id


def test_files_page_lists_sync_sources_and_a_folder(shop):
    at = cockpit("Files")
    sources = frame(at, "sources_grid")
    assert {("files_mart", "files", "files", "orders.csv")} <= {
        (r["flow"], r["connection"], r["kind"], r["source"]) for _, r in sources.iterrows()
    }
    at.selectbox(key="files_connection").set_value("files").run()
    assert sorted(frame(at, "files_grid")["name"]) == ["customers.csv", "orders.csv"]


@pytest.mark.parametrize("instance", ["local"], ids=["duckdb"])
def test_a_run_holding_the_duckdb_store_is_named_and_an_edit_refused(shop):
    import filelock

    from stagehouse.flows.run_lock import _noted
    from stagehouse.flows.ui.store_access import store_lock_path

    at = cockpit("Edit")
    at.selectbox(key="edit_table").set_value("raw.orders").run()
    path = store_lock_path(None)
    with (
        filelock.FileLock(path, thread_local=False),
        _noted(path, {"run_id": "r42", "flow": "files_mart", "pid": 1, "host": "h"}),
    ):
        at.text_input(key="cell_row").input("1")
        at.selectbox(key="cell_column").set_value("amount")
        at.text_input(key="cell_value").input("5")
        at.button[[b.label for b in at.button].index("Save cell")].click().run()
        assert "run r42 of flow files_mart" in texts(at) and "edits are refused" in texts(at)
        changes = cockpit("Changes")
        assert "run r42 of flow files_mart (started" in texts(changes) and "holds the store" in texts(changes)
    with shop.warehouse() as wh:
        assert wh.list_changes("raw.orders") == []


def test_a_password_set_gates_every_session_and_is_never_shown(shop, monkeypatch):
    monkeypatch.setenv("STAGEHOUSE_UI_PASSWORD", "s3cret-pass")
    from streamlit.testing.v1 import AppTest

    from tests.ui.cockpit import APP

    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.sidebar.radio and [t.label for t in at.text_input] == ["Password"]
    at.text_input(key="password").input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["wrong password"]
    at.text_input(key="password").input("s3cret-pass")
    at.button[0].click().run()
    assert at.sidebar.radio(key="page").value == "Tables"
    assert (
        "password" not in at.session_state
        and "s3cret-pass" not in repr(at.session_state)
        and "s3cret-pass" not in texts(at)
    )


@pytest.mark.postgres
@pytest.mark.parametrize("instance", ["postgres"], ids=["postgres"], indirect=True)
def test_on_postgresql_a_run_in_progress_is_named_and_edits_go_on(shop):
    from stagehouse.flows.history import RunHistory

    with RunHistory.reading(shop.instance) as history:
        try:
            run_id = history.start("files_mart", ["mart"], "manual")
            at = cockpit("Changes")
            assert f"run {run_id} of flow files_mart (started" in texts(at) and "is in progress" in texts(at)
            at = cockpit("Edit")
            at.selectbox(key="edit_table").set_value("raw.orders").run()
            at.text_input(key="cell_row").input("1")
            at.selectbox(key="cell_column").set_value("amount")
            at.text_input(key="cell_value").input("6")
            at.button[[b.label for b in at.button].index("Save cell")].click().run()
            assert "Saved 1 edit" in texts(at), texts(at)
        finally:
            history.finish(run_id, "SUCCESS", None, [], [])
