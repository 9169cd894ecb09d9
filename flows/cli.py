"""The ``stagehouse`` command: run flows, list them, draw them.

Errors print as one red line naming what failed and what to do; ``--debug`` adds the traceback.

Example::

    stagehouse init my_project           # a new project: example flow, test, CI workflow
    stagehouse run nycflights
    stagehouse run nycflights --stage mart --instance postgres
    stagehouse run nycflights --full-refresh --task flights   # reload one sync from its source
    stagehouse visualize nycflights
    stagehouse changes raw.customers --status FAILED --status CONFLICT
    stagehouse run --due                 # every flow whose SCHEDULE is due (for a CI cron)
    stagehouse runs nycflights           # run history;  stagehouse logs RUN_ID
    stagehouse replicate warehouse:mart.orders bi analytics --pk id
    stagehouse query "SELECT * FROM shop.public.orders o JOIN warehouse.mart.customers c USING (id)"
    stagehouse check --connect           # pipedag.yaml, connections and flows, without running
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Literal, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stagehouse.connectors.errors import StagehouseError
from stagehouse.flows.catalog import list_flows, load_flow
from stagehouse.flows.cli_data import changes, query, replicate
from stagehouse.flows.cli_output import (
    WIDE,
    console,
    errors,
    fail,
    options,
    quiet_pipedag,
    report_broken_flows,
    waiting,
)
from stagehouse.flows.run_view import report_table, runs_table, skip_reason

app = typer.Typer(
    help="Stagehouse: ELT flows on pydiverse-pipedag.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and pipedag's INFO log."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show pipedag's INFO log."),
) -> None:
    options["debug"] = debug
    options["log_level"] = logging.INFO if (debug or verbose) else None  # None: $STAGEHOUSE_LOG_LEVEL or WARNING


@app.command()
def run(
    flow: str = typer.Argument(None, help="Flow name (see `stagehouse list`); omit with --due."),
    stage: list[str] = typer.Option([], "--stage", "-s", help="Run only this stage (repeatable)."),
    instance: str = typer.Option(
        None, "--instance", "-i", help="Instance in pipedag.yaml (default: $STAGEHOUSE_INSTANCE or local)."
    ),
    due: bool = typer.Option(False, "--due", help="Run every flow whose SCHEDULE is due (for a CI cron)."),
    now: dt.datetime = typer.Option(
        None, "--now", help="With --due: decide as if it were this time (ISO, UTC if no zone)."
    ),
    overlap: str = typer.Option(
        "wait", "--overlap", help="If the flow is already running on the instance: wait or skip."
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Reload syncs from the source, dropping incremental/merge state."
    ),
    task: list[str] = typer.Option([], "--task", "-t", help="With --full-refresh: only this sync task (repeatable)."),
    replace_stages: bool = typer.Option(
        False,
        "--replace-stages",
        help="Take over stages whose tables another flow committed (a renamed or retired flow).",
    ),
    run_id: str = typer.Option(
        None, "--run-id", help="Id to record the run under (default: a new one; `stagehouse ui` follows it)."
    ),
) -> None:
    """Run FLOW, or only the named stages, and print what each task did; or with --due, run the
    scheduled flows that are due (exit 1 if any failed). With --full-refresh, syncs (all, or
    those named by --task) reload the whole source; the old tables stay until the new commit."""
    if due:
        from stagehouse.flows.due_command import run_due_command

        return run_due_command(instance, now)
    if flow is None:
        fail(StagehouseError("name a FLOW to run, or pass --due"))
    if overlap not in ("wait", "skip"):
        fail(StagehouseError(f"--overlap is 'wait' or 'skip', not {overlap!r}"))
    if task and not full_refresh:
        fail(StagehouseError("--task chooses the syncs of a full refresh; add --full-refresh"))
    quiet_pipedag()
    from stagehouse.flows.progress_view import showing_progress
    from stagehouse.flows.runner import root_error, run_flow

    started = time.perf_counter()
    try:
        with showing_progress(console, f"running {flow}"):
            report = run_flow(
                load_flow(flow),
                stages=stage or None,
                instance=instance,
                overlap=cast(Literal["wait", "skip"], overlap),  # checked above
                on_wait=waiting,
                full_refresh=(task or True) if full_refresh else False,
                replace_stages=replace_stages,
                run_id=run_id,
            )
    except Exception as exc:
        fail(root_error(exc) or exc, exc)  # pipedag wraps a config error (e.g. a missing extra) in RuntimeError
    if report.skipped:
        console.print(f"[yellow]skipped[/]: {skip_reason(report)}", highlight=False)
        return
    console.print(report_table(report))
    if not report.ok:
        error = report.error or StagehouseError(f"run {report.run_id} of flow {report.flow} failed")
        fail(error, report.result.exception if report.result else None)
    console.print(f"[green]done[/] in {time.perf_counter() - started:.1f} s (run {report.run_id})")


@app.command()
def pipeline(
    connection: str = typer.Argument(
        ..., help="Connection whose syncs to run (see run_pipeline in docs/operating.md)."
    ),
    table: list[str] = typer.Option([], "--table", "-t", help="Only the sync of this table or object (repeatable)."),
    param: list[str] = typer.Option(
        [],
        "--param",
        "-p",
        help="key=value override of the connection for this run (value as JSON if it parses), e.g. page_size=50.",
    ),
    params_json: str = typer.Option(None, "--params", help="All overrides as one JSON object."),
    run_id: str = typer.Option(None, "--run-id", help="Id to record the run under (default: a new one)."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance in pipedag.yaml."),
) -> None:
    """Run the sync tasks of CONNECTION (the stages of the flows that hold them), with parameter
    overrides for this run only."""
    quiet_pipedag()
    from stagehouse.flows.pipelines import run_pipeline

    try:
        params = json.loads(params_json) if params_json else {}
        for pair in param:
            key, separator, value = pair.partition("=")
            if not separator:
                raise StagehouseError(f"--param {pair!r}: write it as key=value")
            params[key] = _json_or_text(value)
        with console.status(f"running the syncs of {connection}"):
            reports = run_pipeline(connection, table or None, instance=instance, run_id=run_id, **params)
    except Exception as exc:
        fail(exc)
    assert not isinstance(reports, str)  # a run id only when is_async
    for report in reports:
        console.print(report_table(report))
    failed = [report for report in reports if not report.ok]
    if failed:
        fail(failed[0].error or StagehouseError(f"run {failed[0].run_id} of flow {failed[0].flow} failed"))
    console.print(f"[green]done[/] (run {', '.join(str(report.run_id) for report in reports)})")


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


@app.command()
def runs(
    flow: str = typer.Argument(None, help="Only runs of this flow."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose store holds the history."),
    limit: int = typer.Option(20, "--limit", "-n", help="At most this many runs (newest first)."),
) -> None:
    """Show the run history: id, flow, trigger, start, seconds, status, error."""
    from stagehouse.flows.api import get_pipeline_runs

    try:
        found = get_pipeline_runs(flow, instance=instance, limit=limit)
    except Exception as exc:
        fail(exc)
    # on a terminal, its width (errors fold); piped into a file or grep, whole lines
    (console if console.is_terminal else Console(width=WIDE)).print(runs_table(found, flow))


@app.command()
def logs(
    run_id: str = typer.Argument(..., help="Run id (see `stagehouse runs`), or its first digits."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose store holds the history."),
) -> None:
    """Print the log lines of run RUN_ID."""
    from stagehouse.flows.api import get_pipeline_logs

    try:
        lines = get_pipeline_logs(run_id, instance=instance)
    except Exception as exc:
        fail(exc)
    if not lines:
        fail(StagehouseError(f"no log lines for run '{run_id}' (see `stagehouse runs` for run ids)"))
    for line in lines:
        console.print(
            f"{line.at:%Y-%m-%d %H:%M:%S} {line.level:<7} {line.message}", markup=False, highlight=False, soft_wrap=True
        )


@app.command()
def check(
    instance: str = typer.Option(
        None, "--instance", "-i", help="Check only this instance (default: every instance in pipedag.yaml)."
    ),
    reach: bool = typer.Option(False, "--connect", help="Also reach each server, API, SFTP host and folder once."),
) -> None:
    """Check pipedag.yaml, every connection and every flow without running anything: one line
    per problem (where, what, the fix), then a summary; exit 1 if anything was found."""
    quiet_pipedag()
    from stagehouse.flows.check import check_project

    with console.status("checking" + (" (reaching each connection)" if reach else "")):
        report = check_project(instance, connect=reach)
    for problem in report.problems:
        console.print(f"[bold red]problem:[/] {escape(str(problem))}", soft_wrap=True, highlight=False)
    console.print(
        f"[{'green' if report.ok else 'bold red'}]{escape(report.summary())}[/]", soft_wrap=True, highlight=False
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def init(
    folder: Path = typer.Argument(..., help="Folder for the new project (created; must be new or empty)."),
) -> None:
    """Write a new project into FOLDER: pipedag.yaml, an example flow, its test, CI workflow."""
    from stagehouse.flows.project_init import init_project

    try:
        written = init_project(folder)
    except Exception as exc:
        fail(exc)
    console.print(
        f"[green]created[/] {folder} ({len(written)} files); next: cd {shlex.quote(str(folder))} && stagehouse run "
        "example && pytest",
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
def list_command() -> None:
    """List the flows found under flows/ (and $STAGEHOUSE_FLOWS_PATH)."""
    table = Table("flow", "description", "file")
    for module in list_flows():
        table.add_row(module.name, module.description, str(module.path))
    console.print(table)
    report_broken_flows()


@app.command()
def visualize(
    flow: str = typer.Argument(..., help="Flow name."),
    out: Path = typer.Option(None, "--out", "-o", help="SVG file to write (default: FLOW.svg)."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose kroki_url to use."),
    kroki: str = typer.Option(None, "--kroki-url", help="Kroki server base URL (default: kroki_url in pipedag.yaml)."),
    run_id: str = typer.Option(
        None,
        "--run",
        help="Colour each task by its state in this run (an id from `stagehouse runs`, or its first digits).",
    ),
) -> None:
    """Print the Kroki URL of FLOW's graph and write an SVG (with Graphviz; else, given --out, drawn
    by Kroki). With --run, tasks are coloured by their state in that run: completed, cache-valid,
    failed, skipped."""
    quiet_pipedag()
    from stagehouse.flows.config import config_context
    from stagehouse.flows.history import RunHistory
    from stagehouse.flows.visualize import has_graphviz, kroki_url, recorded_result, render_svg

    try:
        pipedag_flow = load_flow(flow)
        config = config_context(instance)
        result = None
        if run_id is not None:
            with RunHistory.reading(instance) as history:
                result = recorded_result(pipedag_flow, config, history.run(run_id), run_id)
        console.print(kroki_url(pipedag_flow, config, result, base_url=kroki), soft_wrap=True, highlight=False)
        if out is None and not has_graphviz():
            errors.print(
                "no SVG: Graphviz's dot is not installed (apt-get install graphviz); --out FILE.svg draws it with Kroki"
            )
            return
        path = out or Path(f"{flow}{'-' + run_id if run_id else ''}.svg")
        if (server := render_svg(pipedag_flow, config, path, result, base_url=kroki)) is not None:
            errors.print(f"Graphviz not found; rendered with Kroki at {server}", highlight=False, soft_wrap=True)
        console.print(f"wrote {path}")
    except Exception as exc:
        fail(exc)


app.command()(replicate)
app.command()(query)
app.command()(changes)


@app.command()
def ui(
    instance: str = typer.Option(
        None,
        "--instance",
        "-i",
        help="Instance whose store the cockpit shows (default: $STAGEHOUSE_INSTANCE or local).",
    ),
    port: int = typer.Option(8501, "--port", "-p", help="Port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; any but 127.0.0.1/localhost needs $STAGEHOUSE_UI_PASSWORD."
    ),
) -> None:
    """Open the data cockpit: browse and edit store tables, the change log and writeback, flows and runs."""
    from stagehouse.flows.ui.serve import serve  # Streamlit loads only here

    try:
        serve(instance=instance, port=port, host=host)
    except Exception as exc:
        fail(exc)


if __name__ == "__main__":
    sys.exit(app())
