"""``stagehouse run --due``: every flow whose SCHEDULE is due, for a CI cron (see ``flows.due``).

A flows-folder module that cannot be parsed may hold a schedule: it is named, the due flows run
anyway, and the command exits 1 so the cron shows red.

Example::

    run_due_command(instance=None, now=None)   # "shop: done (run 3f2a…)", exit 1 if any failed
"""

from __future__ import annotations

import datetime as dt

import typer

from stagehouse.connectors.errors import first_line
from stagehouse.flows.catalog import load_flow
from stagehouse.flows.cli_output import console, errors, fail, quiet_pipedag, report_broken_flows, waiting
from stagehouse.flows.run_view import report_table, skip_reason


def run_due_command(instance: str | None, now: dt.datetime | None) -> None:
    from stagehouse.flows.due import due_flows

    moment = (now if now is None or now.tzinfo else now.replace(tzinfo=dt.UTC)) or dt.datetime.now(dt.UTC)
    try:
        due = due_flows(moment, instance)
    except Exception as exc:
        fail(exc)
    broken = report_broken_flows()  # a file that cannot be parsed may hold a schedule: say so, fail the cron
    if not due:
        console.print(f"no flow is due at {moment:%Y-%m-%d %H:%M:%S %Z}")
        if broken:
            raise typer.Exit(1)
        return
    quiet_pipedag()
    from stagehouse.flows.runner import run_flow

    failed = []
    for module, schedule in due:
        try:
            report = run_flow(
                load_flow(module.name), instance=instance, trigger="schedule", overlap=schedule.overlap, on_wait=waiting
            )
        except Exception as exc:
            errors.print(
                f"[bold red]Error:[/] {module.name}: {first_line(str(exc), type(exc).__name__)}", highlight=False
            )
            failed.append(module.name)
            continue
        if report.skipped:
            console.print(f"{module.name}: [yellow]skipped[/], {skip_reason(report)}", highlight=False)
        elif report.ok:
            console.print(f"{module.name}: [green]done[/] (run {report.run_id})")
        else:
            console.print(report_table(report))
            errors.print(
                f"[bold red]Error:[/] {module.name}: {first_line(str(report.error))} (run {report.run_id})",
                highlight=False,
            )
            failed.append(module.name)
    if failed or broken:
        raise typer.Exit(1)
