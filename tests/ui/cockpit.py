"""Helpers for the cockpit's page tests: the app under Streamlit's AppTest, a store with edits."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from stagehouse.flows.history import HistoryUnavailableError, RunHistory

APP = Path(__file__).resolve().parents[2] / "flows" / "ui" / "app.py"


def cockpit(page: str = "Tables", user: str | None = None) -> AppTest:
    """The cockpit on ``page`` (run once), as the user named ``user`` when given."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    if user is not None:
        at.sidebar.text_input(key="user").input(user)
    if page != "Tables" or user is not None:
        at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and header text of the page, one per line."""
    parts = [
        e.value
        for kind in (at.markdown, at.caption, at.error, at.warning, at.info, at.success, at.header, at.subheader)
        for e in kind
    ]
    return "\n".join(str(p) for p in parts)


# AppTest's dataframes carry no key: each grid is known by a column only it has.
GRID_COLUMNS = {
    "tables_grid": "edited",
    "tables_columns": "key",
    "changes_grid": "writeback_status",
    "flows_grid": "next due",
    "run_tasks": "seconds",
    "runs_grid": "run_trigger",
    "sources_grid": "source",
    "files_grid": "modified",
    "connections_grid": "type",
}


def frame(at: AppTest, key: str):
    """The DataFrame the grid ``key`` of the page shows."""
    found = [d.value for d in at.dataframe if GRID_COLUMNS[key] in d.value.columns]
    assert found, f"no grid {key!r} on the page: {texts(at)}"
    return found[0]


def wait_for_run(instance: str, run_id: str, seconds: float = 120) -> dict:
    """The run once it ended (the history says so)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with RunHistory.reading(instance) as history:
                run = history.run(run_id)
        except HistoryUnavailableError:  # the run holds the DuckDB store
            run = None
        if run is not None and run["status"] != "RUNNING":
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end in {seconds} s")
