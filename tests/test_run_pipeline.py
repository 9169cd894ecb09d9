"""run_pipeline: the syncs of one connection, with parameters for one run, now or in the background
(json-server as the REST app, the crm_writeback test flow syncing its customers)."""

from __future__ import annotations

import time

import pytest

from stagehouse.connectors import ConnectionConfigError
from stagehouse.flows import PipelineError, get_pipeline_runs, load_flow, run_flow, run_pipeline
from stagehouse.flows.history import HistoryUnavailableError
from tests.json_server import json_server  # noqa: F401  (fixture)


@pytest.fixture
def crm(project, json_server):  # noqa: F811
    pagination = {"style": "page", "page_param": "_page", "size_param": "_limit", "size": 100}
    project.add_connection(
        "crm",
        {
            "type": "rest",
            "base_url": json_server.url,
            "objects": {"customers": {"path": "/customers", "primary_key": ["id"], "pagination": pagination}},
        },
    )
    return json_server


def page_requests(server) -> list[str]:
    return server.requests("GET", "customers?_page")


def test_run_pipeline_runs_the_connections_syncs_with_a_page_size_for_that_run_only(project, crm):
    reports = run_pipeline("crm", tables=["customers"], page_size=2)

    assert [r.ok for r in reports] == [True]
    states = {t.task: t.state for t in reports[0].tasks}
    assert (
        states["sync_customers"] == "COMPLETED" and states["writeback_customers"] == "SKIPPED"
    )  # its stage was not selected
    assert len(page_requests(crm)) == 3, "5 customers in pages of 2"
    assert len(project.read("raw", "customers")) == 5
    run = get_pipeline_runs(connection="crm")[0]
    assert (run["run_id"], run["run_trigger"], run["stages"], run["status"]) == (
        reports[0].run_id,
        "api",
        "raw",
        "SUCCESS",
    )

    assert run_flow(load_flow("crm_writeback"), stages=["raw"], instance=project.instance).ok
    assert len(page_requests(crm)) == 4, "the next run pages by the declared 100 again"


def test_run_pipeline_in_the_background_returns_a_run_id_at_once(project, crm):
    started = time.perf_counter()
    run_id = run_pipeline("crm", is_async=True)
    assert time.perf_counter() - started < 10
    deadline, run = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        try:
            run = next((r for r in get_pipeline_runs(connection="crm") if r["run_id"] == run_id), None)
        except HistoryUnavailableError:  # a DuckDB store is the running process's alone
            run = None
        if run is not None and run["status"] != "RUNNING":
            break
        time.sleep(0.5)
    assert run is not None and run["status"] == "SUCCESS", run
    assert {t["task"]: t["state"] for t in run["tasks"]}["sync_customers"] == "COMPLETED"


def test_unknown_tables_and_parameters_are_named(project, crm):
    with pytest.raises(
        PipelineError, match=r"connection 'crm': no flow syncs \['orders'\] \(synced: \['customers'\]\)"
    ):
        run_pipeline("crm", tables=["orders"])
    with pytest.raises(PipelineError, match=r"no flow syncs connection 'nobody'"):
        run_pipeline("nobody")
    with pytest.raises(ConnectionConfigError, match=r"connection 'crm': field 'concurency'"):
        run_pipeline("crm", concurency=2)
