"""Peliqan's run-history calls: ``get_pipeline_runs`` and ``get_pipeline_logs``.

Example::

    runs = get_pipeline_runs("nycflights", limit=5)        # newest first, with their tasks
    runs = get_pipeline_runs(connection="crm")             # runs of the flows that sync crm
    for line in get_pipeline_logs(runs[0]["run_id"]):
        print(line.at, line.level, line.message)
"""

from __future__ import annotations

from typing import Any

from stagehouse.flows.history import LogLine, RunHistory


def get_pipeline_runs(
    flow: str | None = None, *, connection: str | None = None, instance: str | None = None, limit: int | None = 20
) -> list[dict[str, Any]]:
    """Runs of ``flow`` (all flows when None), or of the flows that sync ``connection``, on
    ``instance``, newest first, each with ``tasks``."""
    flows = [flow] if connection is None else [plan.flow_name for plan in _plans(connection)]
    with RunHistory.reading(instance) as history:
        found = [run for name in flows for run in history.runs(name, limit=limit)]
        found.sort(key=lambda run: run["started_at"], reverse=True)
        return [detail for run in found[:limit] if (detail := history.run(run["run_id"])) is not None]


def _plans(connection: str) -> list:
    from stagehouse.flows.pipelines import plan_pipeline  # builds flows: only when asked by connection

    return plan_pipeline(connection)


def get_pipeline_logs(run_id: str, *, instance: str | None = None) -> list[LogLine]:
    """The log lines of run ``run_id``, in order."""
    with RunHistory.reading(instance) as history:
        return history.logs(run_id)
