"""Run a flow (or some of its stages) on an instance and report what each task did.

``run_flow`` is what ``stagehouse run`` calls; from Python, ``flow.run(config=...)`` works too —
this adds the instance lookup, quiet logging, per-task rows and seconds, and one error that
names the failing task.

Example::

    report = run_flow(build_flow(), stages=["mart"], instance="local")
    report.ok, report.tasks[0].state, report.tasks[0].rows
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from pydiverse.pipedag import ConfigContext, Flow, Table
from pydiverse.pipedag.core.stage import CommitStageTask
from pydiverse.pipedag.context.run_context import FinalTaskState
from pydiverse.pipedag.core.result import Result

from connectors.errors import StagehouseError
from flows.config import config_context
from flows.timing import TaskTimer

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


@dataclass
class RunReport:
    """What a run did: overall success, the per-task outcomes, and the error if any."""

    flow: str
    instance: str
    ok: bool
    tasks: list[TaskOutcome] = field(default_factory=list)
    error: BaseException | None = None
    result: Result | None = None


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
    """The first Stagehouse error in the cause chain (what the user can act on), else ``exc``."""
    seen = exc
    while seen is not None:
        if isinstance(seen, StagehouseError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _row_count(result: Result, task, config: ConfigContext) -> int | None:
    """Rows of the task's output table as committed (None for outputs that are not one table)."""
    value = result.task_values.get(task)
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if not isinstance(value, Table):
        return None
    store = config.store.table_store
    table = sa.table(value.name, schema=store.get_schema(task._stage.name).get())
    try:
        with store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    except sa.exc.SQLAlchemyError:
        return None


def run_flow(flow: Flow, *, stages: list[str] | None = None, instance: str | None = None) -> RunReport:
    """Run ``flow`` (only ``stages`` when given) on ``instance`` and return the report."""
    config = config_context(instance)
    components = select_stages(flow, stages or [])
    timer = TaskTimer()
    result = flow.run(*components, config=config, fail_fast=False, trace_hook=timer)
    report = RunReport(flow=flow.name, instance=config.instance_name, ok=result.successful, result=result)
    for task in flow.tasks:
        if isinstance(task, CommitStageTask):
            continue
        state = result.task_states.get(task, FinalTaskState.UNKNOWN)
        rows = _row_count(result, task, config) if state.is_successful() else None
        report.tasks.append(
            TaskOutcome(task._name, task._stage.name, STATE_NAMES[state], rows, timer.seconds.get(task._id))
        )
    if not result.successful:
        report.error = root_error(result.exception) or FlowRunError(f"flow '{flow.name}' failed")
    return report
