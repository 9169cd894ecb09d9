"""What `stagehouse run` shows while tasks run: rows, rows/s and time per running task — and,
when stdout is not a terminal, nothing but the report (no escape codes in CI logs)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from stagehouse.flows.progress_view import ProgressView, showing_progress
from stagehouse.tasks import progress
from tests.sources import write_shop
from tests.test_cli import stagehouse

ESCAPE = re.compile(r"\x1b\[")


class Clock:
    """A clock the test sets by hand: the view computes rates for any moment."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_show_rows_rate_and_time_and_only_time_without_rows():
    clock = Clock()
    view = ProgressView("running shop", clock=clock)
    with progress.listening(view):
        progress.started("sync_orders")
        progress.started("sync_customers")  # an in-place copy: no rows until it ends
        clock.now += 2
        progress.report("sync_orders", 50_000)
        assert view.lines() == [
            "sync_orders     50,000 rows  25,000 rows/s  2.0 s",
            "sync_customers  2.0 s",
        ]
        clock.now += 3
        progress.finished("sync_orders")
        assert view.lines() == ["sync_customers  5.0 s"]
        assert view.heading() == "running shop (1 task done)"
    assert view.lines() == ["sync_customers  5.0 s"]
    assert progress._listeners == []


def test_rows_reported_before_a_start_event_count_from_the_first_report():
    clock = Clock()
    view = ProgressView("running shop", clock=clock)
    view("sync_events", 0)
    clock.now += 0.5
    view("sync_events", 1_000)
    assert view.lines() == ["sync_events  1,000 rows  2,000 rows/s  0.5 s"]
    view.finished("sync_events")
    assert view.lines() == [] and view.done == 1


def test_terminal_console_draws_the_view_and_a_pipe_gets_nothing():
    terminal = io.StringIO()
    with showing_progress(Console(file=terminal, force_terminal=True, width=80), "running shop") as view:
        progress.started("sync_orders")
        progress.report("sync_orders", 1_234)
        assert view.running["sync_orders"].rows == 1_234
    assert "sync_orders" in terminal.getvalue() and ESCAPE.search(terminal.getvalue())

    piped = io.StringIO()
    with showing_progress(Console(file=piped, force_terminal=False), "running shop") as view:
        progress.report("sync_orders", 1_234)
    assert view is None and piped.getvalue() == ""


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_piped_run_output_has_no_escape_codes(project):
    write_shop(project.files)
    ran = stagehouse("run", "files_mart", cwd=project.root)
    assert ran.returncode == 0, ran.stderr
    assert "sync_orders" in ran.stdout and "done" in ran.stdout
    assert not ESCAPE.search(ran.stdout) and not ESCAPE.search(ran.stderr)


class Recorder:
    """A listener that keeps every event of a real run."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def __call__(self, task: str, rows: int) -> None:
        self.events.append(("rows", task, rows))

    def started(self, task: str) -> None:
        self.events.append(("started", task))

    def finished(self, task: str) -> None:
        self.events.append(("finished", task))


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_a_real_run_credits_rows_to_the_running_task(project):
    from stagehouse.flows import load_flow, run_flow

    write_shop(project.files)
    recorder = Recorder()
    with progress.listening(recorder):
        assert run_flow(load_flow("files_mart")).ok
    assert ("started", "sync_orders") in recorder.events and ("finished", "sync_orders") in recorder.events
    assert ("rows", "sync_orders", 3) in recorder.events  # the writer labels it "orders"; the task is sync_orders
    assert ("finished", "revenue_by_name") in recorder.events
