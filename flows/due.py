"""``stagehouse run --due``: run every flow whose schedule is due, upstream flows first.

Deciding costs one parse of each flow module (no import) and one query of the run history, so a
CI cron can call it every few minutes; only the flows that are due are imported and built.

Example::

    reports = run_due(instance="postgres")            # now
    due_flows(dt.datetime(2026, 11, 23, 6, 5, tzinfo=dt.UTC), "local")
"""

from __future__ import annotations

import datetime as dt
from graphlib import CycleError, TopologicalSorter

from stagehouse.flows.catalog import FlowModule, list_flows
from stagehouse.flows.history import RunHistory
from stagehouse.flows.schedule import Schedule, ScheduleError


def due_flows(now: dt.datetime, instance: str | None = None) -> list[tuple[FlowModule, Schedule]]:
    """The scheduled flows due at ``now`` on ``instance``, each after the due flows it names in ``after``."""
    scheduled = {m.name: (m, Schedule.parse(m.schedule, m.name)) for m in list_flows() if m.schedule is not None}
    if not scheduled:
        return []
    with RunHistory.reading(instance) as history:
        last = history.last_starts()
    due = {name: item for name, item in scheduled.items() if item[1].is_due(now, last.get(name))}
    order = TopologicalSorter({name: [a for a in schedule.after if a in due] for name, (_, schedule) in due.items()})
    try:
        return [due[name] for name in order.static_order()]
    except CycleError as exc:
        raise ScheduleError(f"SCHEDULE 'after' lists form a cycle: {' -> '.join(exc.args[1])}") from exc


def run_due(now: dt.datetime | None = None, instance: str | None = None) -> list:
    """Run the due flows in order (trigger ``schedule``, each with its ``overlap``); their reports."""
    from stagehouse.flows.catalog import load_flow
    from stagehouse.flows.runner import run_flow

    return [
        run_flow(load_flow(module.name), instance=instance, trigger="schedule", overlap=schedule.overlap)
        for module, schedule in due_flows(now or dt.datetime.now(dt.UTC), instance)
    ]
