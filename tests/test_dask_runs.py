"""Stage subsets run on every instance, Dask included; a task's error on a Dask worker reaches
the user as its own one line; Stagehouse's errors survive pickling (how they cross processes)."""

from __future__ import annotations

import contextvars
import os
import pickle
import subprocess

import pytest

from stagehouse.connectors.errors import ConnectionConfigError, RestCallError, SourceError, SourceUnavailableError
from stagehouse.flows.dask_engine import WorkerTaskError, sendable
from stagehouse.flows.worker_errors import ClusterUnreachableError, SchedulerLostError, WorkerLostError
from stagehouse.tasks.errors import StoreWriteError, TaskDefinitionError
from tests.sources import write_shop
from tests.test_cli import STAGEHOUSE

FAILING_FLOW = '''"""Test flow: one task raises a Stagehouse error, one an error that cannot be pickled."""
import contextvars
import os

import polars as pl
from pydiverse.pipedag import Flow, Stage, Table, materialize

from stagehouse.connectors.errors import SourceError


@materialize(version=None)
def contacts():
    if os.environ.get("SH_RAISE") == "ours":
        raise SourceError("crm", "object 'contacts'", "HTTP 503 from https://crm.example/api/contacts; retry later")
    if os.environ.get("SH_RAISE") == "unpicklable":
        raise LookupError(contextvars.ContextVar("unpicklable"))  # as pipedag's LookupError on a worker
    return Table(pl.DataFrame({"id": [1]}), name="contacts")


def build_flow():
    with Flow("dask_failing") as flow:
        with Stage("raw"):
            contacts()
    return flow
'''


def stagehouse(project, *args, env=None):
    return subprocess.run(
        [STAGEHOUSE, *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.mark.parametrize(
    "error",
    [
        ConnectionConfigError("crm", "environment variable CRM_TOKEN is not set; export it before running"),
        SourceError("shop", "table 'public.orders'", "relation does not exist"),
        SourceUnavailableError("crm", "object 'contacts'", "HTTP 503; retry later"),
        StoreWriteError("raw.orders", "DuckDB cannot store type OBJECT", column="meta"),
        TaskDefinitionError("sync() needs a table name", task="sync_orders"),
        RestCallError("crm", "contacts", "update needs an id"),
        WorkerTaskError("task 'x' failed: LookupError: <ContextVar>", task="x", error_type="LookupError"),
        WorkerLostError("sync_orders", "tcp://10.0.0.5:8786"),
        ClusterUnreachableError("tcp://10.0.0.5:8786", "Timed out trying to connect"),
        SchedulerLostError("tcp://10.0.0.5:8786", "Connection reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_stagehouse_errors_survive_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and copy.fields == error.fields
    for name, value in error.fields.items():
        assert getattr(copy, name) == value


def test_an_error_that_cannot_be_pickled_is_sent_as_its_type_and_first_line():
    unpicklable = LookupError(contextvars.ContextVar("config_context"))
    sent = sendable(unpicklable, "order_totals")
    assert isinstance(sent, WorkerTaskError) and sent.task == "order_totals" and sent.error_type == "LookupError"
    assert str(sent).startswith("task 'order_totals' failed: LookupError: <ContextVar name='config_context'")
    ours = SourceError("crm", "object 'contacts'", "HTTP 503")
    assert sendable(ours, "contacts") is ours


@pytest.mark.parametrize(
    "instance",
    [
        pytest.param("local", id="duckdb"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("dask", marks=pytest.mark.postgres),
    ],
)
def test_a_full_run_then_one_stage_on_every_instance(project, pg_url):
    write_shop(project.files)
    full = stagehouse(project, "run", "files_mart", "--instance", project.instance)
    assert full.returncode == 0, full.stderr
    write_shop(
        project.files, orders=[(1, 10, 5), (2, 10, 7), (3, 20, 11), (4, 20, 1)]
    )  # not synced: raw is not selected
    mart = stagehouse(project, "run", "files_mart", "--stage", "mart", "--instance", project.instance)
    assert mart.returncode == 0, mart.stderr
    assert "BrokenProcessPool" not in mart.stdout + mart.stderr
    assert project.read("mart", "order_totals", order_by="customer_id") == [
        {"customer_id": 10, "orders": 2, "total": 12},
        {"customer_id": 20, "orders": 1, "total": 11},
    ]
    assert len(project.read("mart", "revenue_by_name")) == 2


@pytest.mark.parametrize("instance", [pytest.param("dask", marks=pytest.mark.postgres)])
def test_a_task_error_on_a_dask_worker_reaches_the_user_as_one_line(project, pg_url, tmp_path, monkeypatch):
    folder = tmp_path / "dask_flows"
    folder.mkdir()
    (folder / "dask_failing.py").write_text(FAILING_FLOW)
    monkeypatch.setenv("STAGEHOUSE_FLOWS_PATH", str(folder))

    ours = stagehouse(project, "run", "dask_failing", "--instance", "dask", env={"SH_RAISE": "ours"})
    assert ours.returncode == 1
    assert ours.stderr.strip().splitlines()[-1] == (
        "Error: connection 'crm', object 'contacts': HTTP 503 from https://crm.example/api/contacts; retry later"
    ), ours.stderr

    other = stagehouse(project, "run", "dask_failing", "--instance", "dask", env={"SH_RAISE": "unpicklable"})
    assert other.returncode == 1 and "BrokenProcessPool" not in other.stderr
    assert (
        other.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: task 'contacts' failed: LookupError: <ContextVar name='unpicklable'")
    ), other.stderr
