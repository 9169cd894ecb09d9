"""What every ``stagehouse`` command shares: its consoles, one-line errors, logging set-up.

Errors print as one red line naming what failed and what to do; ``--debug`` adds the traceback.

Example::

    try:
        report = run_flow(load_flow(name))
    except Exception as exc:
        fail(exc)                  # "Error: connection 'shop', table 'orders': ..." and exit 1
"""

from __future__ import annotations

import traceback
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from stagehouse.connectors.errors import StagehouseError, first_line

console = Console()
errors = Console(stderr=True)
options: dict[str, Any] = {"debug": False}  # set by the command line's --debug / -v
WIDE = 100_000  # a console this wide never folds a line: --wide output is as long as its values


def quiet_pipedag() -> None:
    """Set up logging before a command that loads pipedag (imported here: listing and deciding
    what is due must not pay for loading pipedag). The level: INFO with -v/--debug, else
    $STAGEHOUSE_LOG_LEVEL, else WARNING."""
    try:
        from stagehouse.flows.config import setup_quiet_logging

        setup_quiet_logging(options.get("log_level"), show_task_tracebacks=options["debug"])
    except StagehouseError as exc:  # a bad $STAGEHOUSE_LOG_LEVEL
        fail(exc)


def fail(exc: BaseException, raised: BaseException | None = None) -> NoReturn:
    """Print ``exc`` as one line (plus traceback with --debug) and exit 1.

    ``raised``: the exception ``exc`` was found in (a run's, whose wrappers the traceback shows).
    """
    if options["debug"]:
        errors.print("".join(traceback.format_exception(raised or exc)), markup=False, highlight=False)
    message = str(exc) if isinstance(exc, StagehouseError) else f"{type(exc).__name__}: {exc}"
    errors.print(
        f"[bold red]Error:[/] {escape(first_line(message, type(exc).__name__))}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(1)


def waiting(message: str) -> None:
    """Say on stderr what a run waits for (another run, a process holding the DuckDB store)."""
    errors.print(f"[yellow]waiting:[/] {message}", highlight=False)


def report_broken_flows() -> int:
    """Print one line per flows-folder module that cannot be parsed; how many there were."""
    from stagehouse.flows.catalog import broken_flows

    found = broken_flows()
    for broken in found:
        errors.print(f"[bold red]broken:[/] {escape(str(broken))}", highlight=False, soft_wrap=True)
    return len(found)
