"""``run_pipeline``: run the syncs of one connection (Peliqan's ``pq.run_pipeline``).

A connection's syncs live in flows (``sync("crm", "contacts")``). ``run_pipeline`` finds the flows
whose sync tasks read the connection — only flow modules whose text names it are built — and
runs the stages that hold the chosen syncs. A stage commits as a whole, so the other tasks of
those stages run too (cache-valid when nothing they read changed). Parameters override the
connection's declaration for this run only; ``page_size`` sets the page size of every paginated
object of a REST connection. Runs are recorded in the run history with trigger ``api``.

Example::

    reports = run_pipeline("crm", tables=["contacts"], page_size=50)
    run_id = run_pipeline("crm", is_async=True)          # at once; then get_pipeline_runs(connection="crm")
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydiverse.pipedag import Flow

from stagehouse.connectors.errors import StagehouseError
from stagehouse.connectors.registry import parse_config
from stagehouse.connectors.settings import connection_specs, deep_merge
from stagehouse.flows.catalog import list_flows, load_flow
from stagehouse.flows.history import new_run_id
from stagehouse.flows.runner import RunReport, run_flow
from stagehouse.tasks.sync import sync_source

PAGE_SIZE_FIELDS = {"page": "size", "offset": "limit"}


class PipelineError(StagehouseError):
    """No flow syncs the connection or the named tables, or a parameter does not fit it."""


@dataclass
class PipelinePlan:
    """One flow's part of a pipeline run: the stages holding the connection's chosen syncs."""

    flow_name: str
    flow: Flow
    stages: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def _names_connection(path: Path, connection: str) -> bool:
    return re.search(rf"""['"]{re.escape(connection)}['":]""", path.read_text()) is not None


def plan_pipeline(connection: str, tables: str | list[str] | None = None) -> list[PipelinePlan]:
    """The flows and stages that sync ``connection`` (only ``tables`` when given: a source table
    as written in the sync, or its name without schema)."""
    wanted = None if tables is None else {tables} if isinstance(tables, str) else set(tables)
    plans, synced = [], []
    for module in list_flows():
        if not _names_connection(module.path, connection):
            continue
        plan = PipelinePlan(module.name, load_flow(module.name))
        for task in plan.flow.tasks:
            source = sync_source(task)
            if source is None or source[0] != connection:
                continue
            synced.append(source[1])
            if wanted is None or {source[1], source[1].rpartition(".")[2]} & wanted:
                plan.tables.append(source[1])
                if task._stage.name not in plan.stages:
                    plan.stages.append(task._stage.name)
        if plan.tables:
            plans.append(plan)
    if not synced:
        raise PipelineError(f"no flow syncs connection '{connection}'", connection=connection)
    found = {name for plan in plans for table in plan.tables for name in (table, table.rpartition(".")[2])}
    if wanted and (missing := wanted - found):
        raise PipelineError(
            f"connection '{connection}': no flow syncs {sorted(missing)} (synced: {sorted(set(synced))})",
            connection=connection,
        )
    return plans


def connection_override(connection: str, params: dict[str, Any], instance: str | None = None) -> dict[str, dict]:
    """``{connection: declaration with params deep-merged}``, validated like pipedag.yaml."""
    if not params:
        return {}
    specs, _ = connection_specs(instance)
    if connection not in specs:
        raise PipelineError(
            f"connection '{connection}' is not declared in pipedag.yaml, so it takes no parameters",
            connection=connection,
        )
    params = dict(params)
    page_size = params.pop("page_size", None)
    spec = deep_merge(specs[connection], params)
    if page_size is not None:
        if spec.get("type") != "rest":
            raise PipelineError(
                f"connection '{connection}': page_size is for REST connections (SQL: batch_rows)", connection=connection
            )
        for obj in (spec.get("objects") or {}).values():
            pagination = obj.get("pagination") or {}
            if pagination.get("style") in PAGE_SIZE_FIELDS:
                pagination[PAGE_SIZE_FIELDS[pagination["style"]]] = page_size
    parse_config(connection, spec)
    return {connection: spec}


def run_pipeline(
    connection: str,
    tables: str | list[str] | None = None,
    *,
    instance: str | None = None,
    is_async: bool = False,
    run_id: str | None = None,
    **params: Any,
) -> list[RunReport] | str:
    """Run the syncs of ``connection`` (all, one table or a list) with ``params`` for this run.

    Returns the run reports, one per flow; with ``is_async=True`` starts the run in a background
    process and returns its run id at once (a second flow's run gets ``<id>-2``, and so on). On a
    DuckDB store the calling process must not hold the store open meanwhile.
    """
    plans = plan_pipeline(connection, tables)
    overrides = connection_override(connection, params, instance)
    run_id = run_id or new_run_id()
    if is_async:
        return _start_in_background(connection, tables, instance, run_id, params)
    return [
        run_flow(
            plan.flow,
            stages=plan.stages,
            instance=instance,
            trigger="api",
            run_id=run_id if k == 0 else f"{run_id}-{k + 1}",
            connection_overrides=overrides,
        )
        for k, plan in enumerate(plans)
    ]


def _start_in_background(
    connection: str, tables: str | list[str] | None, instance: str | None, run_id: str, params: dict[str, Any]
) -> str:
    command = [
        sys.executable,
        "-m",
        "stagehouse.flows.cli",
        "pipeline",
        connection,
        "--run-id",
        run_id,
        "--params",
        json.dumps(params),
    ]
    for table in [tables] if isinstance(tables, str) else tables or []:
        command += ["--table", table]
    if instance:
        command += ["--instance", instance]
    output = Path(tempfile.gettempdir()) / f"stagehouse-pipeline-{run_id}.log"
    with output.open("w") as log:
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return run_id
