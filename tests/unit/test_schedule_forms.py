"""A flow's SCHEDULE: cron, or interval slots from a start time on chosen weekdays, in a time zone."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest

from stagehouse.flows.schedule import Schedule, ScheduleError

SATURDAY = dt.datetime(2026, 11, 28, 10, 30, tzinfo=dt.UTC)


def test_schedule_forms_and_due_times():
    at = SATURDAY
    assert Schedule.parse("0 6 * * *").last_slot(at) == dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
    weekdays = Schedule.parse({"interval": 3600, "start_time": "08:00", "weekdays": [0, 1, 2, 3, 4]})
    assert weekdays.last_slot(at) == dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)  # Friday's last hourly slot
    daily = Schedule.parse({"interval": 86400, "start_time": "11:00", "timezone": "Europe/Brussels"})
    assert daily.last_slot(at) == dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)  # 11:00 in Brussels
    assert daily.is_due(at, last_start=at - dt.timedelta(minutes=31))
    assert not daily.is_due(at, last_start=at - dt.timedelta(minutes=29))
    assert daily.is_due(at, last_start=None)
    with pytest.raises(ScheduleError, match="flow 'x'.*cron 'every day'"):
        Schedule.parse("every day", "x")
    with pytest.raises(ScheduleError, match="flow 'x'.*unknown field.*'every'"):
        Schedule.parse({"interval": 60, "every": 2}, "x")


def test_a_cron_schedule_runs_in_its_time_zone():
    brussels = Schedule.parse({"cron": "0 6 * * *", "timezone": "Europe/Brussels"})
    assert brussels.last_slot(SATURDAY) == dt.datetime(2026, 11, 28, 5, 0, tzinfo=dt.UTC)  # 06:00 CET
    weekdays_only = Schedule.parse("0 6 * * 1-5")
    assert weekdays_only.last_slot(SATURDAY) == dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)  # Friday's


def test_interval_slots_start_at_the_start_time_and_end_at_midnight():
    every_90_minutes = Schedule.parse({"interval": 5400, "start_time": "08:00"})
    assert every_90_minutes.last_slot(SATURDAY) == dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)
    before_start = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.UTC)
    assert every_90_minutes.last_slot(before_start) == dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)  # the day before


def test_an_interval_of_a_day_or_more_is_one_slot_a_day():
    weekly_ish = Schedule.parse({"interval": 3 * 86400, "start_time": "06:00"})
    assert weekly_ish.last_slot(SATURDAY) == dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)


def test_a_slot_passed_since_the_last_start_makes_the_flow_due():
    hourly = Schedule.parse({"interval": 3600})
    assert hourly.is_due(SATURDAY, last_start=dt.datetime(2026, 11, 28, 9, 59, tzinfo=dt.UTC))
    assert not hourly.is_due(SATURDAY, last_start=dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC))


def test_a_weekday_never_allowed_in_the_past_week_has_no_slot():
    mondays = Schedule.parse({"interval": 86400, "weekdays": [0]})
    assert mondays.last_slot(SATURDAY) == dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC)
    assert not mondays.is_due(SATURDAY, last_start=dt.datetime(2026, 11, 24, tzinfo=dt.UTC))


def test_defaults_overlap_and_after():
    parsed = Schedule.parse({"interval": 600, "overlap": "wait", "after": ["crm_sync"]})
    assert (parsed.overlap, parsed.after) == ("wait", ("crm_sync",))
    assert (parsed.timezone, parsed.weekdays) == ("UTC", tuple(range(7)))
    assert Schedule.parse("*/5 * * * *").overlap == "skip"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (3600, "must be a cron string or a dict, not int"),
        ({}, "needs either 'cron' or 'interval'"),
        ({"cron": "0 6 * * *", "interval": 60}, "needs either 'cron' or 'interval'"),
        ({"interval": 0}, "interval must be a positive number of seconds"),
        ({"interval": "60"}, "interval must be a positive number of seconds"),
        ({"interval": 60, "timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"interval": 60, "start_time": "25:00"}, "hour must be in 0..23"),
        ({"interval": 60, "weekdays": [7]}, "weekdays are numbers 0 (Monday) to 6 (Sunday)"),
        ({"interval": 60, "weekdays": []}, "weekdays are numbers 0 (Monday) to 6 (Sunday)"),
        ({"interval": 60, "overlap": "queue"}, "overlap is 'skip' or 'wait'"),
    ],
)
def test_a_schedule_that_cannot_be_understood_names_the_flow_and_the_field(value, problem):
    with pytest.raises(ScheduleError) as refused:
        Schedule.parse(value, "crm_sync")
    assert str(refused.value).startswith("flow 'crm_sync': SCHEDULE") and problem in str(refused.value)
    again = pickle.loads(pickle.dumps(refused.value))
    assert (type(again), again.flow, str(again)) == (ScheduleError, "crm_sync", str(refused.value))


def test_the_next_slot_is_the_first_scheduled_time_after_now():
    every_90_minutes = Schedule.parse({"interval": 5400, "start_time": "08:00"})
    assert every_90_minutes.next_slot(SATURDAY) == dt.datetime(2026, 11, 28, 11, 0, tzinfo=dt.UTC)
    late = dt.datetime(2026, 11, 28, 23, 45, tzinfo=dt.UTC)  # the day's last slot (23:00) passed: tomorrow's first
    assert every_90_minutes.next_slot(late) == dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)
    weekdays_only = Schedule.parse({"interval": 86400, "start_time": "06:00", "weekdays": [0, 1, 2, 3, 4]})
    assert weekdays_only.next_slot(SATURDAY) == dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # Monday
    brussels = Schedule.parse({"cron": "0 6 * * *", "timezone": "Europe/Brussels"})
    assert brussels.next_slot(SATURDAY) == dt.datetime(2026, 11, 29, 5, 0, tzinfo=dt.UTC)  # 06:00 CET
