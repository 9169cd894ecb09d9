"""How a run's report is shown in the terminal: its table of tasks, and why a run was skipped.

Example::

    console.print(report_table(run_flow(load_flow("shop"))))
    skip_reason(report)   # 'run 3f2a… of flow shop (started … UTC, PID 812 on ci-1) is in progress on local'
"""

from __future__ import annotations

from collections import Counter

from rich.console import JustifyMethod
from rich.table import Table

RUN_STYLES = {"SUCCESS": "green", "FAILED": "bold red", "RUNNING": "cyan", "SKIPPED": "dim", "KILLED": "magenta"}
STATE_STYLES = {"COMPLETED": "green", "CACHE_VALID": "cyan", "FAILED": "bold red", "SKIPPED": "dim"}


def report_table(report) -> Table:
    """Each task of a run: stage, state, rows, seconds (and bad rows skipped, when a sync skipped any)."""
    table = Table(title=f"flow {report.flow} on instance {report.instance}")
    skips = any(outcome.skipped_rows for outcome in report.tasks)  # the column only when a sync skipped bad rows
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        (("task", "left"), ("stage", "left"), ("state", "left"), ("rows", "right"))
        + ((("bad rows skipped", "right"),) if skips else ())
        + (("seconds", "right"),)
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for outcome in report.tasks:
        style = STATE_STYLES.get(outcome.state, "")
        cells = [
            outcome.task,
            outcome.stage,
            f"[{style}]{outcome.state}[/]",
            "" if outcome.rows is None else f"{outcome.rows:,}",
        ]
        if skips:
            cells.append(f"{outcome.skipped_rows:,}" if outcome.skipped_rows else "")
        table.add_row(*cells, "" if outcome.seconds is None else f"{outcome.seconds:.2f}")
    return table


def skip_reason(report) -> str:
    """``run abc of F (started …) is in progress on local`` (+ the id the skip is recorded under)."""
    from stagehouse.flows.run_lock import describe

    running = report.running
    if running is not None and "flow" not in running:
        running = {**running, "flow": report.flow}
    text = f"{describe(running)} is in progress on {report.instance}"
    return text + (f"; this run is recorded as skipped (run {report.run_id})" if report.run_id else "")


def runs_table(found: list[dict], flow: str | None) -> Table:
    """The run history as ``stagehouse runs`` shows it: id, flow, stages, trigger, start, seconds,
    status, task states, error (``found``: rows of ``get_pipeline_runs``)."""
    view = Table(title=f"runs{' of ' + flow if flow else ''} ({len(found)})")
    longest_flow = max((len(run_row["flow"]) for run_row in found), default=4)
    for column in ("run", "flow", "stages", "trigger", "started", "seconds", "status", "tasks", "error"):
        # ids, times and statuses whole (a run id is copied into `stagehouse logs`), flow names
        # whole up to 24 characters, no column narrower than its name; the error folds first
        view.add_column(
            column,
            overflow="fold",
            no_wrap=column in ("run", "started", "seconds", "status"),
            min_width=max(len(column), min(longest_flow, 24) if column == "flow" else 0),
        )
    for run_row in found:
        took = (run_row["ended_at"] - run_row["started_at"]).total_seconds() if run_row["ended_at"] else None
        states = ", ".join(f"{n} {s}" for s, n in sorted(Counter(t["state"] for t in run_row["tasks"]).items()))
        style = RUN_STYLES.get(run_row["status"], "")
        view.add_row(
            run_row["run_id"],
            run_row["flow"],
            run_row["stages"] or "all",
            run_row["run_trigger"],
            f"{run_row['started_at']:%Y-%m-%d %H:%M:%S}",
            "" if took is None else f"{took:.1f}",
            f"[{style}]{run_row['status']}[/]",
            states,
            run_row["error"] or "",
        )
    return view
