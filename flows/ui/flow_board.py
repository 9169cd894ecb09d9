"""The cockpit's Flows and runs page without Streamlit: every flow with its schedule, next due time
and last run; a flow or stage started in the background and followed; the flow's picture.

A run starts as ``stagehouse run FLOW --stage S --run-id ID`` in a process of its own (as
``run_pipeline(is_async=True)`` starts one), so it holds its locks and the store like any run, and
the cockpit, which opens the store per request, never blocks it. Its output goes to a file the run
page shows while the run holds a DuckDB store; its tasks and logs come from the run history.

Example::

    run_id = start_run("nycflights", ["raw"], "local")
    with store_session("local") as wh:
        rows = flow_rows(wh, "local")
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from stagehouse.connectors.errors import StagehouseError
from stagehouse.flows.catalog import list_flows
from stagehouse.flows.history import STATUSES, RunHistory, new_run_id
from stagehouse.flows.schedule import Schedule, ScheduleError

RUN_OUTPUT_CHARS = 20_000


class RunStartError(StagehouseError):
    """A run the cockpit was asked to start names no flow, or a stage the flow does not have."""


def schedule_text(value: Any) -> str:
    """A SCHEDULE literal as one line: the cron string, or ``every 3600 s from 06:00``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if "cron" in value:
        return str(value["cron"])
    return f"every {value.get('interval')} s from {value.get('start_time', '00:00')} ({value.get('timezone', 'UTC')})"


def flow_rows(wh: Any, instance: str, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One row per flow: name, description, schedule, next due time, last run (id, state, start)."""
    now = now or dt.datetime.now(dt.UTC)
    history = RunHistory(wh.engine, instance)
    last: dict[str, dict[str, Any]] = {}
    for run in history.runs(limit=500):
        last.setdefault(run["flow"], run)
    rows = []
    for module in list_flows():
        due = problem = None
        if module.schedule is not None:
            try:
                schedule = Schedule.parse(module.schedule, module.name)
                started = last.get(module.name, {}).get("started_at")
                due = "now" if schedule.is_due(now, _aware(started) if started else None) else schedule.next_slot(now)
            except ScheduleError as exc:
                problem = str(exc)
        run = last.get(module.name) or {}
        rows.append(
            {
                "flow": module.name,
                "description": module.description,
                "schedule": problem or schedule_text(module.schedule),
                "next due": due,
                "last state": run.get("status"),
                "last run": run.get("run_id"),
                "last start": run.get("started_at"),
            }
        )
    return rows


def runs_filtered(
    wh: Any, instance: str, flow: str | None = None, status: list[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Runs newest first, of ``flow`` and in ``status`` when given."""
    unknown = [s for s in status or [] if s not in STATUSES]
    if unknown:
        raise RunStartError(f"unknown run status {', '.join(unknown)} (use one of {', '.join(STATUSES)})")
    found = RunHistory(wh.engine, instance).runs(flow, limit=None if status else limit)
    return [r for r in found if not status or r["status"] in status][:limit]


def run_output_path(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"stagehouse-ui-run-{run_id}.log"


def start_run(flow: str, stages: list[str], instance: str | None, known_stages: list[str] | None = None) -> str:
    """Start ``flow`` (only ``stages`` when given) in a background process; returns its run id at once."""
    if flow not in {m.name for m in list_flows()}:
        raise RunStartError(f"no flow '{flow}' (flows: {', '.join(m.name for m in list_flows())})", flow=flow)
    if known_stages is not None and (missing := [s for s in stages if s not in known_stages]):
        raise RunStartError(
            f"flow '{flow}' has no stage {', '.join(missing)} (stages: {', '.join(known_stages)})", flow=flow
        )
    run_id = new_run_id()
    command = [sys.executable, "-m", "stagehouse.flows.cli", "run", flow, "--run-id", run_id]
    for stage in stages:
        command += ["--stage", stage]
    if instance:
        command += ["--instance", instance]
    with run_output_path(run_id).open("w") as output:
        subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return run_id


def run_output(run_id: str) -> str:
    """What the background run printed so far (its last part), '' when it was not started here."""
    path = run_output_path(run_id)
    if not path.exists():
        return ""
    text = path.read_text(errors="replace")
    return text[-RUN_OUTPUT_CHARS:]


def flow_stages(flow: Any) -> list[str]:
    """The stage names of a built flow, in order."""
    return list(flow.stages)


def writeback_targets(table: str) -> list[tuple[str, str]]:
    """(flow, stage) of each ``writeback`` task that pushes ``table``: what 'start writeback' runs."""
    from stagehouse.flows.catalog import load_flow
    from stagehouse.tasks.writeback import writeback_table

    found = []
    for module in list_flows():
        if "writeback" not in module.path.read_text():
            continue
        try:
            tasks = load_flow(module.name).tasks
        except Exception:  # noqa: BLE001 (a flow that does not build has no writeback to start; Files names it)
            continue
        for task in tasks:
            if writeback_table(task) == table and (module.name, task._stage.name) not in found:
                found.append((module.name, task._stage.name))
    return found


def flow_svg(flow: Any, instance: str | None, run: dict[str, Any] | None) -> str:
    """The flow's picture as SVG text, coloured by ``run`` (a run history entry with its tasks) when given."""
    from stagehouse.flows.config import config_context
    from stagehouse.flows.visualize import recorded_result, render_svg

    config = config_context(instance)  # opens the store: call inside store_session, closed here
    try:
        result = recorded_result(flow, config, run, run["run_id"]) if run else None
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "flow.svg"
            render_svg(flow, config, path, result)
            svg = path.read_text()
        return svg[svg.find("<svg") :]  # without the XML prolog and doctype, to sit inside a page
    finally:
        config._close()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
