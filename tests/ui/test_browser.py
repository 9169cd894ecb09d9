"""The cockpit in a real browser (headless chromium via Selenium) against `stagehouse ui`: edit a
cell in the grid, see it marked, see it in the change log, write it back to json-server and see it
PROCESSED; run a stage and see it COMPLETED. One screenshot per page under the test's temp dir
(copied to $STAGEHOUSE_SCREENSHOTS when set, e.g. docs/img)."""

from __future__ import annotations

import os
import shutil
from urllib.parse import quote

import pytest

from tests.json_server import by_id, json_server, run_crm_writeback  # noqa: F401  (fixture)
from tests.ui.browser import browser, choose, click_button, edit_first_cell, settle, start_cockpit, wait_for  # noqa: F401  (fixture)


@pytest.mark.parametrize("instance", ["local"], ids=["duckdb"])
def test_edit_mark_write_back_and_run_a_stage_in_a_browser(project, json_server, browser, tmp_path):  # noqa: F811
    project.add_connection(
        "crm",
        {
            "type": "rest",
            "base_url": json_server.url,
            "objects": {"customers": {"path": "/customers", "primary_key": ["id"]}},
        },
    )
    run_crm_writeback(project, stages=["raw"])
    process, url = start_cockpit(project, tmp_path / "cockpit.log")
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(name: str) -> None:
        settle()
        browser.save_screenshot(str(shots / f"{name}.png"))

    def page(name: str, **params: str) -> None:
        query = "&".join(f"{k}={quote(v)}" for k, v in {"page": name, **params}.items())
        browser.get(f"{url}/?{query}")

    try:
        page("Edit", table="raw.customers")
        wait_for(browser, "customer 1", source=True)
        edit_first_cell(browser, 0.5, "Ada (browser)")  # the name column
        click_button(browser, "Save 1 edit")
        wait_for(browser, "Saved 1 edit to the change log as")
        wait_for(browser, "Ada (browser)", source=True)
        shot("edit")

        page("Tables", table="raw.customers")
        wait_for(browser, "Edited on this page: row 1 · name")
        wait_for(browser, "✎ name", source=True)
        wait_for(browser, "customer 2", source=True)  # a row without edits: the Styler skips it, the grid shows it
        shot("tables")

        page("Changes", table="raw.customers")
        wait_for(browser, "Statuses: NOT_PROCESSED 1")
        wait_for(browser, '"Ada (browser)"', source=True)
        click_button(browser, "Start writeback: flow crm_writeback, stage writeback")
        wait_for(browser, "Statuses: PROCESSED 1", seconds=90)  # the page refreshes itself every 2 s
        shot("changes")
        assert by_id(json_server.records("customers"))[1]["name"] == "Ada (browser)"

        page("Flows and runs", flow="crm_writeback")
        wait_for(browser, "crm_writeback", source=True)
        choose(browser, "Stage", "raw")
        click_button(browser, "Run in the background")
        wait_for(browser, "state: SUCCESS", seconds=90)
        wait_for(browser, "COMPLETED", source=True)
        browser.find_element("xpath", "//label[.//p[contains(., 'Picture')]]").click()
        wait_for(browser, 'data-testid="stImage"', source=True)  # the flow's picture
        shot("flows")

        page("Files")
        wait_for(browser, "What each sync reads")
        wait_for(browser, "customers", source=True)
        shot("files")
    finally:
        process.kill()
        process.wait()
        print((tmp_path / "cockpit.log").read_text()[-3000:])
    target = os.environ.get("STAGEHOUSE_SCREENSHOTS")
    if target:
        for picture in shots.glob("*.png"):
            shutil.copy(picture, os.path.join(target, f"ui-{picture.name}"))
