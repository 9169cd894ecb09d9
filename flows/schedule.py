"""When a flow should run: a cron expression, or Peliqan's interval/weekdays/start time.

A flow module declares its schedule as a module-level literal, read without importing the module
(so ``stagehouse run --due`` over fifty flows imports none that is not due)::

    SCHEDULE = "*/30 6-18 * * 1-5"                  # cron (croniter), in UTC unless timezone is set
    SCHEDULE = {"interval": 3600}                   # hourly, on the hour
    SCHEDULE = {"interval": 86400, "start_time": "06:00", "weekdays": [0, 1, 2, 3, 4],
                "timezone": "Europe/Brussels", "overlap": "skip", "after": ["crm_sync"]}

Interval form: each allowed weekday (0 = Monday) has slots at ``start_time`` (default 00:00) and every
``interval`` seconds after it until midnight; an interval of a day or more means one slot a day.
A flow is due when its latest slot at or before now is later than the start of its last run on
the instance (or it never ran). ``overlap`` says what a run does when the previous run of the
flow is still going: ``skip`` (default for scheduled runs) or ``wait``. ``after`` names flows that
must run first when both are due.

Example::

    Schedule.parse("0 6 * * *").is_due(now, last_start)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from stagehouse.connectors.errors import StagehouseError

DAY = 86_400


class ScheduleError(StagehouseError):
    """A flow's SCHEDULE cannot be understood."""


@dataclass(frozen=True)
class Schedule:
    """A parsed SCHEDULE; see the module docstring for the forms."""

    cron: str | None = None
    interval: int | None = None
    start_time: dt.time = dt.time(0, 0)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    timezone: str = "UTC"
    overlap: Literal["wait", "skip"] = "skip"
    after: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, value: Any, flow: str = "?") -> Schedule:
        """A Schedule from a cron string or a dict; ScheduleError names the flow and the field."""
        spec = {"cron": value} if isinstance(value, str) else value
        if not isinstance(spec, dict):
            raise ScheduleError(
                f"flow '{flow}': SCHEDULE must be a cron string or a dict, not {type(value).__name__}", flow=flow
            )
        unknown = set(spec) - {"cron", "interval", "start_time", "weekdays", "timezone", "overlap", "after"}
        if unknown:
            raise ScheduleError(f"flow '{flow}': SCHEDULE has unknown field(s) {sorted(unknown)}", flow=flow)
        if ("cron" in spec) == ("interval" in spec):
            raise ScheduleError(f"flow '{flow}': SCHEDULE needs either 'cron' or 'interval'", flow=flow)
        if "cron" in spec and not croniter.is_valid(spec["cron"]):
            raise ScheduleError(
                f"flow '{flow}': SCHEDULE cron {spec['cron']!r} is not a valid cron expression", flow=flow
            )
        if "interval" in spec and (not isinstance(spec["interval"], int) or spec["interval"] <= 0):
            raise ScheduleError(f"flow '{flow}': SCHEDULE interval must be a positive number of seconds", flow=flow)
        try:
            ZoneInfo(spec.get("timezone", "UTC"))
            start = dt.time.fromisoformat(spec.get("start_time", "00:00"))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ScheduleError(f"flow '{flow}': SCHEDULE {exc}", flow=flow) from exc
        weekdays = tuple(spec.get("weekdays", range(7)))
        if not weekdays or any(d not in range(7) for d in weekdays):
            raise ScheduleError(f"flow '{flow}': SCHEDULE weekdays are numbers 0 (Monday) to 6 (Sunday)", flow=flow)
        if spec.get("overlap", "skip") not in ("skip", "wait"):
            raise ScheduleError(f"flow '{flow}': SCHEDULE overlap is 'skip' or 'wait'", flow=flow)
        return cls(
            cron=spec.get("cron"),
            interval=spec.get("interval"),
            start_time=start,
            weekdays=weekdays,
            timezone=spec.get("timezone", "UTC"),
            overlap=spec.get("overlap", "skip"),
            after=tuple(spec.get("after", ())),
        )

    def last_slot(self, now: dt.datetime) -> dt.datetime | None:
        """The latest scheduled time at or before ``now`` (None if none in the past week)."""
        local = now.astimezone(ZoneInfo(self.timezone))
        if self.cron:
            return croniter(self.cron, local).get_prev(dt.datetime)
        for days_back in range(8):
            past = [
                slot
                for slot in self._slots_on(local.date() - dt.timedelta(days=days_back), local.tzinfo)
                if slot <= local
            ]
            if past:
                return max(past)
        return None

    def next_slot(self, now: dt.datetime) -> dt.datetime | None:
        """The first scheduled time after ``now`` (None if none in the coming week)."""
        local = now.astimezone(ZoneInfo(self.timezone))
        if self.cron:
            return croniter(self.cron, local).get_next(dt.datetime)
        for days_ahead in range(8):
            coming = [
                slot
                for slot in self._slots_on(local.date() + dt.timedelta(days=days_ahead), local.tzinfo)
                if slot > local
            ]
            if coming:
                return min(coming)
        return None

    def _slots_on(self, day: dt.date, zone: dt.tzinfo | None) -> list[dt.datetime]:
        """An interval schedule's times on ``day``: from its start time every ``interval`` seconds
        until the day ends (once a day for an interval of a day or more); none on other weekdays."""
        if day.weekday() not in self.weekdays:
            return []
        first = dt.datetime.combine(day, self.start_time, tzinfo=zone)
        interval = self.interval
        assert interval is not None  # a cron schedule has no slots
        slots = (
            [first]
            if interval >= DAY
            else [
                first + dt.timedelta(seconds=k * interval)
                for k in range(0, (DAY - (self.start_time.hour * 3600 + self.start_time.minute * 60)) // interval + 1)
            ]
        )
        return [slot for slot in slots if slot.date() == day]

    def is_due(self, now: dt.datetime, last_start: dt.datetime | None) -> bool:
        """Due when a slot passed since the last run started, or it never ran."""
        if last_start is None:
            return True
        slot = self.last_slot(now)
        return slot is not None and slot > last_start
