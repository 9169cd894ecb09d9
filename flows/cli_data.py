"""The ``stagehouse`` commands that move or show data: ``replicate``, ``query``, ``changes``
(``flows.cli`` registers them on the app, in this order).

Example::

    stagehouse replicate warehouse:mart.orders bi analytics --pk id
    stagehouse query "SELECT * FROM shop.public.orders o JOIN warehouse.mart.customers c USING (id)"
    stagehouse changes raw.customers --status FAILED --status CONFLICT
"""

from __future__ import annotations

import typer
from rich.console import Console

from stagehouse.connectors.errors import StagehouseError
from stagehouse.flows.cli_output import WIDE, console, fail

__all__ = ["changes", "query", "replicate"]


def replicate(
    source: str = typer.Argument(
        ..., help="'connection:schema.table', or a connection with --query ('warehouse' is the table store)."
    ),
    target_connection: str = typer.Argument(..., help="Connection to copy into (a SQL connection, or 'warehouse')."),
    target_schema: str = typer.Argument(..., help="Schema of the target table (created if missing)."),
    table: str = typer.Option(None, "--table", "-t", help="Target table name (default: the source table's)."),
    query: str = typer.Option(
        None, "--query", "-q", help="Copy this query's rows (in the source's SQL) instead of a table."
    ),
    incremental_field: str = typer.Option(
        None, "--incremental-field", help="Copy only rows past the target's max of this column."
    ),
    pk: list[str] = typer.Option([], "--pk", help="Primary key column (repeatable): incremental rows merge by it."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose connections and store to use."),
) -> None:
    """Copy a table or query into another database once; the target sees the old or the new
    table, never a half-copied one."""
    from stagehouse.connectors import connect
    from stagehouse.connectors.sql.replicate import parse_source
    from stagehouse.connectors.sql.replicate import replicate as replicate_rows

    try:
        source_name, source_table = parse_source(source, query)
        with (
            connect(source_name, instance=instance) as source_conn,
            connect(target_connection, instance=instance) as target_conn,
        ):
            with console.status(f"replicating {source} to {target_connection}"):
                report = replicate_rows(
                    source_conn,
                    target_conn,
                    target_schema,
                    table,
                    table=source_table,
                    query=query,
                    incremental_field=incremental_field,
                    pk=pk or None,
                )
    except Exception as exc:
        fail(exc)
    since = "" if report.since is None else f" after {incremental_field} = {report.since}"
    console.print(
        f"[green]{report.mode}[/] copy to {report.target}: {report.rows:,} rows{since} "
        f"({report.inserted:,} inserted, {report.updated:,} updated) in {report.seconds:.1f} s",
        highlight=False,
    )


def query(
    sql: str = typer.Argument(
        ..., help="One DuckDB SQL statement; name tables as connection.schema.table ('warehouse' is the store)."
    ),
    output: str = typer.Option("table", "--format", "-f", help="table, csv or json (an array of records)."),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose connections and store to use."),
) -> None:
    """Run one SQL statement across the store and other SQL connections, each attached read-only
    as a catalog of its name, e.g. a join of a PostgreSQL table with a store table."""
    from stagehouse.flows.query_view import QUERY_FORMATS, printable, show_frame

    if output not in QUERY_FORMATS:
        fail(StagehouseError(f"--format is one of {', '.join(QUERY_FORMATS)}, not {output!r}"))
    from stagehouse.connectors.federated import query as federated_query

    try:
        frame = printable(federated_query(sql, instance=instance), output)
    except Exception as exc:
        fail(exc)
    show_frame(frame, output, console)


def changes(
    table: str = typer.Argument(..., help="Table as stage.table (e.g. raw.customers)."),
    status: list[str] = typer.Option(
        [], "--status", "-s", help="Only changes with this writeback status (repeatable)."
    ),
    instance: str = typer.Option(None, "--instance", "-i", help="Instance whose store holds the change log."),
    limit: int = typer.Option(None, "--limit", "-n", help="At most this many changes (oldest first)."),
    wide: bool = typer.Option(False, "--wide", "-w", help="Every column and whole values, however wide."),
) -> None:
    """Show the change log of TABLE: edits, who made them, their writeback status and errors
    (fitted to the terminal; long values are cut with '…', --wide shows them whole)."""
    from stagehouse.connectors import connect
    from stagehouse.flows.changes_view import changes_view

    try:
        with connect("warehouse", instance=instance) as warehouse:
            rows = warehouse.list_changes(table, writeback_status=status or None, limit=limit)
    except Exception as exc:
        fail(exc)
    view = changes_view(rows, f"changes of {table} ({len(rows)})", width=console.width, wide=wide)
    (Console(width=WIDE) if wide else console).print(view)
