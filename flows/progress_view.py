"""What ``stagehouse run`` shows while a flow runs: each running task's rows, rows/s and time.

A spinner alone says nothing about a sync of 50 million rows; this shows, per running task,
``sync_orders  1,234,567 rows  412,000 rows/s  3.0 s`` (rows/s averaged since the task
started), and only the elapsed time for a task that counts no rows while it runs (a DuckDB
store's in-place copy of a SQL table, a PostgreSQL → PostgreSQL binary COPY, a SQL transform).
It is drawn with rich's ``Live`` only when stdout is a terminal: piped output and CI logs get no
escape codes, only the report table at the end.

Example::

    with showing_progress(console, "running shop"):
        report = run_flow(load_flow("shop"))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stagehouse.tasks import progress

if TYPE_CHECKING:  # rich's live display loads only on a terminal: piped and cron runs never pay for it
    from rich.console import Console, Group


@dataclass
class Running:
    """A task seen running: when it started and the rows it reported (None: none yet)."""

    started: float
    rows: int | None = None


class ProgressView:
    """A ``tasks.progress`` listener that keeps the running tasks and renders them as lines.

    ``clock`` is the time source (seconds; ``time.monotonic``), so the lines can be computed for
    any moment: ``view.lines()`` → ``["sync_orders  20,000 rows  10,000 rows/s  2.0 s"]``.
    """

    def __init__(self, title: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.title = title
        self.clock = clock
        self.running: dict[str, Running] = {}
        self.done = 0

    def started(self, task: str) -> None:
        self.running[task] = Running(self.clock())

    def finished(self, task: str) -> None:
        if self.running.pop(task, None) is not None:
            self.done += 1

    def __call__(self, task: str, rows: int) -> None:
        self.running.setdefault(task, Running(self.clock())).rows = rows

    def lines(self) -> list[str]:
        """One line per running task, task names padded to one width."""
        now = self.clock()
        running = list(self.running.items())  # a copy: a database's threads report while the screen redraws
        width = max((len(task) for task, _ in running), default=0)
        return [_line(task.ljust(width), state, now - state.started) for task, state in running]

    def heading(self) -> str:
        return f"{self.title}" + (f" ({self.done} task{'s' if self.done != 1 else ''} done)" if self.done else "")

    def __rich__(self) -> Group:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        return Group(Spinner("dots", Text(self.heading())), *(Text(f"  {line}") for line in self.lines()))


def _line(task: str, state: Running, elapsed: float) -> str:
    if state.rows is None:
        return f"{task}  {elapsed:.1f} s"
    rate = state.rows / elapsed if elapsed > 0 else 0.0
    return f"{task}  {state.rows:,} rows  {rate:,.0f} rows/s  {elapsed:.1f} s"


@contextmanager
def showing_progress(console: Console, title: str) -> Iterator[ProgressView | None]:
    """Show the running tasks live on ``console`` while the block runs, if it is a terminal;
    otherwise show nothing (yields None)."""
    if not console.is_terminal:
        yield None
        return
    from rich.live import Live

    view = ProgressView(title)
    with Live(view, console=console, refresh_per_second=4, transient=True), progress.listening(view):
        yield view
