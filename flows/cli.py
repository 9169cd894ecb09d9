"""The ``stagehouse`` command: run flows, list them, draw them.

Errors print as one red line naming what failed and what to do; ``--debug`` adds the traceback.

Example::

    stagehouse run nycflights
    stagehouse run nycflights --stage mart --instance postgres
    stagehouse visualize nycflights
    stagehouse changes raw.customers --status FAILED --status CONFLICT
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connectors import connect
from connectors.errors import StagehouseError
from flows.catalog import list_flows, load_flow
from flows.config import config_context, setup_quiet_logging
from flows.runner import RunReport, run_flow
from flows.visualize import has_graphviz, kroki_url, write_svg
from tasks import progress

app = typer.Typer(help="Stagehouse: ELT flows on pydiverse-pipedag.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
console = Console()
errors = Console(stderr=True)
STATE_STYLES = {"COMPLETED": "green", "CACHE_VALID": "cyan", "FAILED": "bold red", "SKIPPED": "dim"}
_options = {"debug": False}


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and pipedag's INFO log."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show pipedag's INFO log."),
) -> None:
    _options["debug"] = debug
    setup_quiet_logging(logging.INFO if (debug or verbose) else logging.WARNING, show_task_tracebacks=debug)


def fail(exc: BaseException) -> None:
    """Print ``exc`` as one line (plus traceback with --debug) and exit 1."""
    if _options["debug"]:
        errors.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    message = str(exc) if isinstance(exc, StagehouseError) else f"{type(exc).__name__}: {exc}"
    errors.print(f"[bold red]Error:[/] {message.splitlines()[0] if message else type(exc).__name__}", highlight=False)
    raise typer.Exit(1)


def report_table(report: RunReport) -> Table:
    table = Table(title=f"flow {report.flow} on instance {report.instance}")
    for column, justify in (("task", "left"), ("stage", "left"), ("state", "left"), ("rows", "right"), ("seconds", "right")):
        table.add_column(column, justify=justify)
    for outcome in report.tasks:
        style = STATE_STYLES.get(outcome.state, "")
        table.add_row(
            outcome.task,
            outcome.stage,
            f"[{style}]{outcome.state}[/]",
            "" if outcome.rows is None else f"{outcome.rows:,}",
            "" if outcome.seconds is None else f"{outcome.seconds:.2f}",
        )
    return table


@app.command()
def run(
    flow: str = typer.Argument(..., help="Flow name (see `stagehouse list`)."),
    stage: list[str] = typer.Option([], "--stage", "-s", help="Run only this stage (repeatable)."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance in pipedag.yaml (default: $STAGEHOUSE_INSTANCE or local)."),
) -> None:
    """Run FLOW, or only the named stages, and print what each task did."""
    started = time.perf_counter()
    try:
        with console.status(f"running {flow}") as status:
            def show(task: str, rows: int) -> None:
                status.update(f"running {flow}: {task} {rows:,} rows")

            with progress.listening(show):
                report = run_flow(load_flow(flow), stages=stage or None, instance=instance)
    except Exception as exc:
        fail(exc)
    console.print(report_table(report))
    if not report.ok:
        fail(report.error)
    console.print(f"[green]done[/] in {time.perf_counter() - started:.1f} s")


@app.command("list")
def list_command() -> None:
    """List the flows found under flows/ (and $STAGEHOUSE_FLOWS_PATH)."""
    table = Table("flow", "description", "file")
    for module in list_flows():
        table.add_row(module.name, module.description, str(module.path))
    console.print(table)


@app.command()
def visualize(
    flow: str = typer.Argument(..., help="Flow name."),
    out: Path = typer.Option(None, "--out", "-o", help="SVG file to write (default: FLOW.svg)."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose kroki_url to use."),
    kroki: str = typer.Option(None, "--kroki-url", help="Kroki server base URL (default: kroki_url in pipedag.yaml)."),
) -> None:
    """Print the Kroki URL of FLOW's graph; with Graphviz installed, also write an SVG."""
    try:
        pipedag_flow = load_flow(flow)
        config = config_context(instance)
        console.print(kroki_url(pipedag_flow, config, base_url=kroki), soft_wrap=True, highlight=False)
        if has_graphviz():
            path = write_svg(pipedag_flow, config, out or Path(f"{flow}.svg"))
            console.print(f"wrote {path}")
        else:
            errors.print("no SVG: Graphviz's dot is not installed (apt-get install graphviz)")
    except Exception as exc:
        fail(exc)


CHANGE_STYLES = {"PROCESSED": "green", "NOT_PROCESSED": "yellow", "PROCESSING": "cyan", "FAILED": "bold red", "CONFLICT": "magenta"}


@app.command()
def changes(
    table: str = typer.Argument(..., help="Table as stage.table (e.g. raw.customers)."),
    status: list[str] = typer.Option([], "--status", "-s", help="Only changes with this writeback status (repeatable)."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose store holds the change log."),
    limit: int = typer.Option(None, "--limit", "-n", help="At most this many changes (oldest first)."),
) -> None:
    """Show the change log of TABLE: edits, who made them, and their writeback status."""
    try:
        with connect("warehouse", instance=instance) as warehouse:
            rows = warehouse.list_changes(table, writeback_status=status or None, limit=limit)
    except Exception as exc:
        fail(exc)
    view = Table(title=f"changes of {table} ({len(rows)})")
    for column in ("id", "type", "row", "field", "old", "new", "by", "at", "status", "error"):
        view.add_column(column, overflow="fold")
    for row in rows:
        style = CHANGE_STYLES.get(row["writeback_status"], "")
        view.add_row(
            str(row["id"]), row["type"], row["row_pk"], row["field"] or "", row["old_value"] or "", row["new_value"] or "",
            row["changed_by"] or "", f"{row['changed_at']:%Y-%m-%d %H:%M:%S}", f"[{style}]{row['writeback_status']}[/]", row["error"] or "",
        )
    console.print(view)


if __name__ == "__main__":
    sys.exit(app())
