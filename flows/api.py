"""The seed platform's run-history calls: ``get_pipeline_runs`` and ``get_pipeline_logs``.

Example::

    runs = get_pipeline_runs("nycflights", limit=5)        # newest first, with their tasks
    for line in get_pipeline_logs(runs[0]["run_id"]):
        print(line.at, line.level, line.message)
"""

from __future__ import annotations

from typing import Any

from flows.history import LogLine, RunHistory


def get_pipeline_runs(flow: str | None = None, *, instance: str | None = None, limit: int | None = 20) -> list[dict[str, Any]]:
    """Runs of ``flow`` (all flows when None) on ``instance``, newest first, each with ``tasks``."""
    history = RunHistory.for_instance(instance)
    try:
        return [history.run(run["run_id"]) for run in history.runs(flow, limit=limit)]
    finally:
        history.close()


def get_pipeline_logs(run_id: str, *, instance: str | None = None) -> list[LogLine]:
    """The log lines of run ``run_id``, in order."""
    history = RunHistory.for_instance(instance)
    try:
        return history.logs(run_id)
    finally:
        history.close()
