"""Run a flow (or some of its stages) on an instance and report what each task did.

``run_flow`` is what ``stagehouse run`` calls; from Python, ``flow.run(config=...)`` works too —
this adds the instance lookup, per-task rows and seconds, one error that names the failing task,
a run lock so two runs of one flow never overlap on an instance (``overlap``: wait or skip), and
a record of the run, its tasks and its log lines in the run history (``flows.history``).

Example::

    report = run_flow(build_flow(), stages=["mart"], instance="local")
    report.ok, report.run_id, report.tasks[0].state, report.tasks[0].rows
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import attrs
import sqlalchemy as sa
from box import Box
from pydiverse.pipedag import ConfigContext, Flow, Table
from pydiverse.pipedag.context.run_context import FinalTaskState
from pydiverse.pipedag.core.result import Result
from pydiverse.pipedag.core.stage import CommitStageTask

from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.flows.config import config_context
from stagehouse.flows.console import startup_done
from stagehouse.flows.full_refresh import refresh_tasks
from stagehouse.flows.history import LogLine, RunHistory, new_run_id, now
from stagehouse.flows.run_lock import Overlap, flow_run_lock, running_note, store_file, store_file_lock
from stagehouse.flows.stage_names import check_stage_names, refuse_reserved
from stagehouse.flows.store_reach import unavailable_store
from stagehouse.flows.timing import TaskTimer
from stagehouse.tasks.arrow_stream import skipped_rows, written_rows
from stagehouse.tasks.connections import refuse_undeclared
from stagehouse.tasks.full_refresh import SETTING as FULL_REFRESH
from stagehouse.tasks.full_refresh import with_full_refresh
from stagehouse.tasks.sync import recorded_rows
from stagehouse.tasks.sync_partitions import refuse_unpartitionable

STATE_NAMES = {
    FinalTaskState.COMPLETED: "COMPLETED",
    FinalTaskState.CACHE_VALID: "CACHE_VALID",
    FinalTaskState.FAILED: "FAILED",
    FinalTaskState.UNKNOWN: "SKIPPED",
}


class FlowRunError(StagehouseError):
    """A flow run failed; ``report`` holds the per-task outcome."""


class UnknownStageError(StagehouseError):
    """A stage named on the command line is not in the flow."""


@dataclass
class TaskOutcome:
    """One row of the run report."""

    task: str
    stage: str
    state: str
    rows: int | None = None
    seconds: float | None = None
    skipped_rows: int | None = None  # bad CSV rows a sync skipped (csv.on_bad_rows: skip)


@dataclass
class RunReport:
    """What a run did: overall success, the per-task outcomes, and the error if any."""

    flow: str
    instance: str
    ok: bool
    tasks: list[TaskOutcome] = field(default_factory=list)
    error: BaseException | None = None
    result: Result | None = None
    run_id: str | None = None
    skipped: bool = False
    running: dict | None = None  # when skipped: the run in progress (run_id, started_at, pid, host), if known


def select_stages(flow: Flow, names: list[str]) -> list:
    """The flow's stages of these names; an unknown one is an error that lists the known ones."""
    known = flow.stages
    missing = [name for name in names if name not in known]
    if missing:
        raise UnknownStageError(
            f"flow '{flow.name}' has no stage {', '.join(repr(m) for m in missing)} (stages: {', '.join(known)})",
            flow=flow.name,
            stages=missing,
        )
    return [known[name] for name in names]


def root_error(exc: BaseException | None) -> BaseException | None:
    """The error a run's one line shows: the first Stagehouse error in the chain (what the user
    can act on); else the innermost explicit cause (``raise ... from``) that has a message.

    pipedag wraps what went wrong ("Failed to retrieve table '...'" around pandas' TypeError);
    the wrapper is in the traceback (``--debug``), the cause is what the user must fix. Only
    ``__cause__`` is followed to the root: ``__context__`` may be an error handled on the way.
    """
    seen = exc
    while seen is not None:
        if isinstance(seen, StagehouseError):
            return seen
        seen = seen.__cause__ or seen.__context__
    root = exc
    while root is not None and root.__cause__ is not None and str(root.__cause__).strip():
        root = root.__cause__
    return root


def _row_count(result: Result, task, config: ConfigContext) -> int | None:
    """Rows of the task's output table as committed (None for outputs that are not one table): as
    the task counted them while writing, as an incremental or merge sync's load record counts
    them, else by counting the table."""
    value = result.task_values.get(task)
    if (written := written_rows(value)) is not None:
        return written
    store = config.store.table_store
    schema = store.get_schema(task._stage.name).get()
    recorded = recorded_rows(store.engine, schema, value)
    if recorded is not None:
        return recorded
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if not isinstance(value, Table):
        return None
    table = sa.table(value.name, schema=schema)
    try:
        with store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    except sa.exc.SQLAlchemyError:
        return None


class _LogCapture(logging.Handler):
    """Keeps the log records of a run (at the level the console shows) for the run history."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[LogLine] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.msg.get("event", record.msg) if isinstance(record.msg, dict) else record.getMessage()
        self.lines.append(LogLine(now(), record.levelname, f"{record.name}: {message}"))

    def note(self, level: str, message: str) -> None:
        self.lines.append(LogLine(now(), level, message))


def run_flow(
    flow: Flow,
    *,
    stages: list[str] | None = None,
    instance: str | None = None,
    trigger: str = "manual",
    overlap: Overlap = "wait",
    run_id: str | None = None,
    connection_overrides: dict[str, dict] | None = None,
    on_wait: Callable[[str], None] | None = None,
    full_refresh: bool | list[str] = False,
    replace_stages: bool = False,
) -> RunReport:
    """Run ``flow`` (only ``stages`` when given) on ``instance`` and return the report.

    Stage names starting with ``pg_`` are refused, and so is a stage whose last committed tables
    came from another flow on the instance (its commit would replace them) unless
    ``replace_stages`` (``flows.stage_names``). The run holds the flow's run lock: another run of it on
    the instance makes this one wait, or
    with ``overlap="skip"`` return at once with ``report.skipped`` and ``report.running`` (the run
    in progress; the skip is recorded as SKIPPED unless the store is a DuckDB file, which the
    running process holds).
    ``run_id`` names the run in the history (a new id when None); ``connection_overrides`` replaces
    connection declarations of the instance for this run only (``run_pipeline``'s parameters).
    On a DuckDB store the run also waits while another process holds the file; ``on_wait``
    receives a line saying who it waits for (default: a warning in the log).
    ``full_refresh``: ``True`` reloads every sync of the run from its source, a list only the
    syncs it names (``["sync_orders"]`` or ``["orders"]``; an unknown name raises
    ``UnknownTaskError``): incremental and merge syncs drop their committed state (rows deleted
    at the source go), and none of them is CACHE_VALID. Readers keep the old table until the
    stage commits; a failed run keeps it and its high-water mark (``flows.full_refresh``).
    """
    try:
        config = config_context(instance)  # pipedag opens the store here
    except Exception as exc:
        unavailable = unavailable_store(exc, instance)
        if unavailable is None:
            raise
        raise unavailable from exc
    startup_done()  # the store's dialect and the engine are loaded: see flows.console
    if connection_overrides:
        config = with_connections(config, connection_overrides)
    components = select_stages(flow, stages or [])
    refuse_reserved(flow.name, list(stages or flow.stages))
    selected = [task for task in flow.tasks if not stages or task._stage.name in stages]
    declared = dict(config.attrs.get("connections") or {})
    refuse_undeclared(flow.name, selected, declared, config.instance_name)
    refuse_unpartitionable(flow.name, selected, declared)
    if full_refresh:
        config = with_full_refresh(config, refresh_tasks(flow, full_refresh, stages))
    note = {
        "run_id": run_id or new_run_id(),
        "flow": flow.name,
        "started_at": now().isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    try:
        return _locked_run(
            flow, components, config, stages, trigger, overlap, note, on_wait or _log_wait, replace_stages
        )
    # the store itself (its locks, its history): a task's errors are in the report
    except sa.exc.OperationalError as exc:
        unavailable = unavailable_store(exc, config.instance_name)
        if unavailable is None:
            raise
        raise unavailable from exc


def _log_wait(message: str) -> None:
    logging.getLogger("stagehouse.run").warning(message)


def with_connections(config: ConfigContext, declarations: dict[str, dict]) -> ConfigContext:
    """``config`` with these connection declarations replacing the instance's own.

    ``ConfigContext.evolve`` deep-merges and refuses a value whose type differs from the file's
    (30.0 -> 10); the declarations replace whole connections instead.
    """
    attributes = dict(config.attrs)
    attributes["connections"] = {**(attributes.get("connections") or {}), **declarations}
    return attrs.evolve(config, attrs=Box(attributes, frozen_box=True))


def _locked_run(
    flow: Flow,
    components: list,
    config: ConfigContext,
    stages: list[str] | None,
    trigger: str,
    overlap: Overlap,
    note: dict,
    on_wait: Callable[[str], None],
    replace_stages: bool = False,
) -> RunReport:
    """The run inside its locks: the flow's run lock, then (DuckDB) the store file's; the store is
    opened once, inside both, and disposed before either is released (the next run opens the file
    right after)."""
    with flow_run_lock(config, flow.name, overlap, note, on_wait) as acquired:
        if not acquired:
            return _skipped(config, flow.name, stages, trigger)
        with store_file_lock(config, note, on_wait):
            try:
                with config:  # one store (one engine) for the history and every task, disposed on exit
                    return _recorded_run(flow, components, config, stages, trigger, note["run_id"], replace_stages)
            finally:
                config._close()


def _recorded_run(
    flow: Flow,
    components: list,
    config: ConfigContext,
    stages: list[str] | None,
    trigger: str,
    run_id: str,
    replace_stages: bool = False,
) -> RunReport:
    history = RunHistory(config.store.table_store.engine, config.instance_name)
    check_stage_names(flow.name, list(stages or flow.stages), history, replace_stages=replace_stages)
    run_id = history.start(flow.name, stages or [], trigger, run_id)
    capture = _LogCapture()
    logging.getLogger().addHandler(capture)
    capture.note(
        "INFO",
        f"run {run_id} of flow {flow.name} on {config.instance_name} ({trigger}): stages "
        f"{', '.join(stages or []) or 'all'}",
    )
    if refreshed := config.attrs.get(FULL_REFRESH):
        capture.note("INFO", f"full refresh of {', '.join(refreshed)}")
    try:
        report = _run(flow, components, config)
    except BaseException as exc:
        capture.note("ERROR", "".join(traceback.format_exception(exc)))
        history.finish(run_id, "FAILED", first_line(exc), [], capture.lines)
        raise
    finally:
        logging.getLogger().removeHandler(capture)
    report.run_id = run_id
    for task in report.tasks:
        capture.note(
            "ERROR" if task.state == "FAILED" else "INFO",
            f"task {task.stage}.{task.task}: {task.state}"
            + ("" if task.rows is None else f", {task.rows:,} rows")
            + (f", {task.skipped_rows:,} bad rows skipped" if task.skipped_rows else "")
            + ("" if task.seconds is None else f", {task.seconds:.2f} s"),
        )
    if report.error is not None:
        capture.note("ERROR", "".join(traceback.format_exception(report.error)))
    error = first_line(report.error) if report.error is not None else None
    rows = [
        {
            "task": t.task,
            "stage": t.stage,
            "state": t.state,
            "rows_written": t.rows,
            "seconds": t.seconds,
            "error": error if t.state == "FAILED" else None,
        }
        for t in report.tasks
    ]
    history.finish(run_id, "SUCCESS" if report.ok else "FAILED", error, rows, capture.lines)
    return report


def _skipped(config: ConfigContext, flow: str, stages: list[str] | None, trigger: str) -> RunReport:
    """The report of a skipped run, naming the run in progress. On a DuckDB store the file belongs
    to the running process, so the skip is not recorded and the running run is read from its lock
    note; elsewhere the skip is recorded and the running run read from the history."""
    report = RunReport(
        flow=flow, instance=config.instance_name, ok=True, skipped=True, running=running_note(config, flow)
    )
    if store_file(config) is not None:
        return report  # opening the file here could break the running run
    try:
        with config:
            history = RunHistory(config.store.table_store.engine, config.instance_name)
            report.running = report.running or history.running(flow)
            report.run_id = history.record_skip(flow, stages or [], trigger, "another run of the flow was in progress")
    except Exception:  # noqa: BLE001 (any failure to open the store: the skip itself stands)
        pass
    finally:
        config._close()
    return report


def _run(flow: Flow, components: list, config: ConfigContext) -> RunReport:
    timer = TaskTimer()
    result = flow.run(*components, config=config, fail_fast=False, trace_hook=timer)
    report = RunReport(flow=flow.name, instance=config.instance_name, ok=result.successful, result=result)
    for task in flow.tasks:
        if isinstance(task, CommitStageTask):
            continue
        state = result.task_states.get(task, FinalTaskState.UNKNOWN)
        rows = _row_count(result, task, config) if state.is_successful() else None
        skipped = skipped_rows(result.task_values.get(task)) if state.is_successful() else None
        report.tasks.append(
            TaskOutcome(task._name, task._stage.name, STATE_NAMES[state], rows, timer.seconds.get(task._id), skipped)
        )
    if not result.successful:
        report.error = root_error(result.exception) or FlowRunError(f"flow '{flow.name}' failed")
    return report
