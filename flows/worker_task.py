"""One pipedag task as a Dask worker runs it, and what it sends back: value, seconds, log lines.

A task on a worker process runs outside the runner's process: pipedag's trace hook there is a
copy (per-task seconds stayed empty under Dask) and its log records go to the worker's log (the
run history missed them). Here the worker times the task and keeps the log records of its own
thread at the runner's level; ``report`` replays both in the runner's process, where the run
history records them as on the sequential instance.

Example (what ``flows.dask_engine`` does)::

    ran = run_task(task, level=logging.WARNING, claim=None, inputs=..., run_context=..., config_context=...)
    value = report(task, ran)   # seconds to the trace hook, log lines to the runner's loggers
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydiverse.pipedag.context import RunContext

from stagehouse.connectors.errors import first_line
from stagehouse.flows.dask_extra import cloudpickle
from stagehouse.flows.worker_errors import WorkerTaskError


@dataclass
class Ran:
    """A task's value as it crosses back from a worker, with its seconds and log lines."""

    value: Any
    seconds: float
    lines: list[tuple[float, int, str, str]] = field(default_factory=list)  # (created, level, logger, message)


def unwrap(value: Any) -> Any:
    """The task value inside a ``Ran`` (an upstream task's output as a downstream input)."""
    return value.value if isinstance(value, Ran) else value


def sendable(exc: BaseException, task: str) -> BaseException:
    """``exc`` if it survives pickling (so the runner gets it whole), else a ``WorkerTaskError`` naming it."""
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 (whatever fails to pickle or unpickle: send its text instead)
        return WorkerTaskError(
            f"task '{task}' failed: {type(exc).__name__}: {first_line(exc)}", task=task, error_type=type(exc).__name__
        )


class _ThreadLines(logging.Handler):
    """Keeps the records logged by one thread (a worker runs several tasks at once, one per thread)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.thread = threading.get_ident()
        self.lines: list[tuple[float, int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        message = record.msg.get("event", record.msg) if isinstance(record.msg, dict) else record.getMessage()
        self.lines.append((record.created, record.levelno, record.name, str(message)))


def run_task(
    task, level: int, claim: Callable[[], None] | None, structlog_config: dict, structlog_context: dict, **kwargs
) -> Ran:
    """Run ``task`` in this (worker) process inside the run's contexts; ``claim`` refuses a second
    attempt of the task (``flows.cluster_engine``). Errors are raised as ``sendable`` makes them."""
    structlog_config["logger_factory"] = structlog.stdlib.LoggerFactory()
    structlog.configure(**structlog_config)
    kwargs["inputs"] = {name: unwrap(value) for name, value in kwargs["inputs"].items()}
    root = logging.getLogger()
    handler = _ThreadLines(level)
    root.addHandler(handler)
    if root.level > level:
        root.setLevel(level)
    started = time.perf_counter()
    try:
        with (
            structlog.contextvars.bound_contextvars(**structlog_context),
            kwargs["run_context"],
            kwargs["config_context"],
        ):
            if claim is not None:
                claim()
            value = task._do_run(**kwargs)
    except Exception as exc:
        error = sendable(exc, task._name)
        error.worker_ran = (task._name, Ran(None, time.perf_counter() - started, handler.lines))  # type: ignore[attr-defined]
        raise error from None
    finally:
        root.removeHandler(handler)
    return Ran(value, time.perf_counter() - started, handler.lines)


def ran_before_failing(error: BaseException, task: str) -> Ran | None:
    """The seconds and log lines of ``task`` when it raised ``error`` on a worker itself
    (``run_task``); None for the error of a task upstream of it."""
    failed, ran = getattr(error, "worker_ran", (None, None))
    return ran if failed == task else None


def report(task, ran: Any) -> Any:
    """In the runner's process: the task's seconds to the trace hook (when it keeps them), its log
    lines to the runner's loggers; returns the task's value."""
    if not isinstance(ran, Ran):
        return ran
    ran_elsewhere = getattr(RunContext.get().trace_hook, "task_ran_elsewhere", None)
    if ran_elsewhere is not None:
        ran_elsewhere(task, ran.seconds)
    for created, levelno, name, message in ran.lines:
        record = logging.makeLogRecord(
            {
                "name": name,
                "levelno": levelno,
                "levelname": logging.getLevelName(levelno),
                "msg": message,
                "created": created,
            }
        )
        logging.getLogger(name).handle(record)
    return ran.value
