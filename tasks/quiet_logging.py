"""Quiet pipedag's logging: warnings only, unless ``$STAGEHOUSE_LOG_LEVEL`` asks for more.

pipedag logs through structlog, which unconfigured prints every message, one line per IPC
call (about 1,200 lines for a small flow). Importing ``stagehouse.tasks`` configures it at
WARNING unless the application configured structlog first; the CLI configures it again for
its options (``-v``/``--debug`` mean INFO).

Example::

    STAGEHOUSE_LOG_LEVEL=INFO python my_flow.py    # pipedag's INFO lines; DEBUG adds every IPC line
    logging.getLogger("pydiverse").setLevel(logging.INFO)   # the same from Python, after import
"""

from __future__ import annotations

import logging
import os
import warnings

import structlog
from pydiverse.common.util.structlog import setup_logging

from stagehouse.tasks.errors import LogLevelError

LOG_LEVEL_VARIABLE = "STAGEHOUSE_LOG_LEVEL"


def log_level_from_env(default: int = logging.WARNING) -> int:
    """``$STAGEHOUSE_LOG_LEVEL`` as a logging level (a name like INFO or a number), else ``default``."""
    value = os.environ.get(LOG_LEVEL_VARIABLE, "").strip()
    if not value:
        return default
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    if not isinstance(level, int):
        raise LogLevelError(LOG_LEVEL_VARIABLE, value)
    return level


class _DropReportedFailures(logging.Filter):
    """Drops pipedag's per-task failure tracebacks: the runner reports each failure as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, dict) and str(record.msg.get("event", "")).startswith("Task failed"))


def _colour_only_terminals(handler: logging.Handler) -> None:
    """pipedag's console renderer colours every line; a log written to a file or a CI log gets
    plain text instead of escape codes (and ``$NO_COLOR`` turns colour off on a terminal too)."""
    stream = getattr(handler, "stream", None)
    colours = bool(stream is not None and stream.isatty() and not os.environ.get("NO_COLOR"))
    for processor in getattr(handler.formatter, "processors", ()):
        if isinstance(processor, structlog.dev.ConsoleRenderer):
            processor.colors = colours


def setup_quiet_logging(level: int | None = None, show_task_tracebacks: bool = False) -> None:
    """pipedag logs every IPC message at DEBUG; Stagehouse shows warnings unless asked for more.

    ``level``: None means ``$STAGEHOUSE_LOG_LEVEL``, else WARNING.
    """
    setup_logging(log_level=log_level_from_env() if level is None else level)
    for handler in logging.getLogger().handlers:
        _colour_only_terminals(handler)
        if not show_task_tracebacks:
            handler.addFilter(_DropReportedFailures())
    warnings.filterwarnings("ignore", message="duckdb-engine doesn't yet support reflection on indices")


def quiet_by_default() -> None:
    """Called on import: quiet logging, unless the application already configured structlog."""
    if not structlog.is_configured():
        setup_quiet_logging(show_task_tracebacks=True)
