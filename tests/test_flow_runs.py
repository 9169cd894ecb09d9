"""Flow behaviour on every table store: caching, reruns, single stages, failures."""

from __future__ import annotations

import pytest

from stagehouse.connectors import SourceError
from stagehouse.flows import config_context, load_flow, run_flow
from tests.sources import CUSTOMERS, ORDERS, write_shop


def states(report) -> dict[str, str]:
    return {t.task: t.state for t in report.tasks}


def test_first_run_computes_and_second_is_cache_valid(project):
    write_shop(project.files)
    first = run_flow(load_flow("files_mart"))
    assert first.ok, first.error
    assert set(states(first).values()) == {"COMPLETED"}
    assert project.read("mart", "order_totals", order_by="customer_id") == [
        {"customer_id": 10, "orders": 2, "total": 12},
        {"customer_id": 20, "orders": 1, "total": 11},
    ]
    rows = {t.task: t.rows for t in first.tasks}
    assert rows["sync_orders"] == 3 and rows["sync_customers"] == 2

    second = run_flow(load_flow("files_mart"))
    assert second.ok, second.error
    assert set(states(second).values()) == {"CACHE_VALID"}


def test_changed_source_reruns_exactly_its_downstream_tasks(project):
    write_shop(project.files)
    assert run_flow(load_flow("files_mart")).ok

    write_shop(project.files, orders=ORDERS + [(4, 20, 100)])
    report = run_flow(load_flow("files_mart"))
    assert report.ok, report.error
    assert states(report) == {
        "sync_orders": "COMPLETED",
        "sync_customers": "CACHE_VALID",
        "order_totals": "COMPLETED",
        "customer_names": "CACHE_VALID",
        "revenue_by_name": "COMPLETED",
    }
    assert project.read("mart", "revenue_by_name", order_by="name") == [
        {"name": "ada", "revenue": 12},
        {"name": "bob", "revenue": 111},
    ]


def test_run_only_named_stages(project):
    write_shop(project.files)
    raw_only = run_flow(load_flow("files_mart"), stages=["raw"])
    assert raw_only.ok, raw_only.error
    assert states(raw_only)["sync_orders"] == "COMPLETED"
    assert states(raw_only)["order_totals"] == "SKIPPED"
    assert len(project.read("raw", "orders")) == 3

    mart_only = run_flow(load_flow("files_mart"), stages=["mart"])
    assert mart_only.ok, mart_only.error
    assert states(mart_only)["sync_orders"] == "SKIPPED"
    assert states(mart_only)["order_totals"] == "COMPLETED"
    assert len(project.read("mart", "order_totals")) == 2


def test_pipedag_flow_run_of_one_stage(project):
    """Plain pipedag API: flow.run(stage) with the Stagehouse config reruns just that stage."""
    write_shop(project.files)
    assert run_flow(load_flow("files_mart")).ok
    write_shop(project.files, customers=CUSTOMERS + [(30, "cy")])
    flow = load_flow("files_mart")
    result = flow.run(flow.get_stage("raw"), config=config_context())
    assert result.successful
    assert len(project.read("raw", "customers")) == 3
    assert len(project.read("mart", "customer_names")) == 2  # mart was not rerun


def test_failed_stage_leaves_committed_data_and_rerun_resumes(project):
    write_shop(project.files)
    assert run_flow(load_flow("files_mart")).ok
    before_orders = project.read("raw", "orders", order_by="order_id")
    before_totals = project.read("mart", "order_totals", order_by="customer_id")

    write_shop(project.files, orders=ORDERS + [(4, 20, 100)], customers=None)
    (project.files / "customers.csv").unlink()
    failed = run_flow(load_flow("files_mart"))

    assert not failed.ok
    assert isinstance(failed.error, SourceError)
    assert "connection 'files'" in str(failed.error) and "customers.csv" in str(failed.error)
    assert states(failed)["sync_customers"] == "FAILED"
    # sync_orders succeeded inside the failed stage, yet readers still see the last commit
    assert project.read("raw", "orders", order_by="order_id") == before_orders
    assert project.read("mart", "order_totals", order_by="customer_id") == before_totals

    write_shop(project.files, orders=ORDERS + [(4, 20, 100)])
    resumed = run_flow(load_flow("files_mart"))
    assert resumed.ok, resumed.error
    assert len(project.read("raw", "orders")) == 4


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_stage_commit_that_breaks_off_midway_leaves_the_committed_tables(project, monkeypatch):
    """A DuckDB stage commit swaps every read view in one transaction: when it breaks off after
    the old views are dropped (here an error; a SIGKILL in the same window), readers keep the
    last committed tables instead of finding none."""
    from stagehouse.tasks.stores.duckdb import AtomicCommitDuckDBTableStore

    write_shop(project.files)
    assert run_flow(load_flow("files_mart")).ok
    before_orders = project.read("raw", "orders", order_by="order_id")

    def broken_off(self, *args):
        raise RuntimeError("the process died while committing the stage")

    write_shop(project.files, orders=ORDERS + [(4, 20, 100)])
    with monkeypatch.context() as patch:
        patch.setattr(AtomicCommitDuckDBTableStore, "on_read_view_alias", broken_off)
        assert not run_flow(load_flow("files_mart")).ok
    assert project.read("raw", "orders", order_by="order_id") == before_orders

    resumed = run_flow(load_flow("files_mart"))
    assert resumed.ok, resumed.error
    assert len(project.read("raw", "orders")) == 4


def test_bad_value_mid_stream_fails_with_file_and_line(project):
    """A value that breaks the column type far past the sniffed sample fails the sync, naming it."""
    orders = [(i, 10, i % 97) for i in range(1, 60_001)]
    write_shop(project.files, orders=orders)
    assert run_flow(load_flow("files_mart"), stages=["raw"]).ok

    text = (project.files / "orders.csv").read_text().replace("\n55000,10,", "\n55000,10,x", 1)
    (project.files / "orders.csv").write_text(text)
    failed = run_flow(load_flow("files_mart"), stages=["raw"])
    assert not failed.ok
    assert isinstance(failed.error, SourceError)
    message = str(failed.error)
    assert "orders.csv" in message and "connection 'files'" in message
    assert "55000" in message or "Line" in message
    assert len(project.read("raw", "orders")) == 60_000


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_unknown_stage_is_named(project):
    from stagehouse.flows.runner import UnknownStageError

    with pytest.raises(UnknownStageError, match="no stage 'nope' .*stages: raw, mart"):
        run_flow(load_flow("files_mart"), stages=["nope"])


@pytest.mark.postgres
@pytest.mark.parametrize("instance", ["dask"], indirect=True)
def test_dask_engine_runs_stages_in_worker_processes(project):
    write_shop(project.files)
    first = run_flow(load_flow("files_mart"))
    assert first.ok, first.error
    assert set(states(first).values()) == {"COMPLETED"}
    assert project.read("mart", "revenue_by_name", order_by="name") == [
        {"name": "ada", "revenue": 12},
        {"name": "bob", "revenue": 11},
    ]
    write_shop(project.files, customers=CUSTOMERS + [(30, "cy")])
    second = run_flow(load_flow("files_mart"))
    assert states(second)["sync_customers"] == "COMPLETED" and states(second)["sync_orders"] == "CACHE_VALID"
