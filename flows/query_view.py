"""How ``stagehouse query`` prints its answer: a table on the terminal, CSV or JSON records for a pipe.

polars takes no interval column (PostgreSQL's ``interval``), and CSV has no nested values: such
columns are turned into text by DuckDB first — an interval as DuckDB writes it
(``1 day 02:00:00``), a list, struct or map as JSON in CSV (JSON output keeps them nested).

Example::

    show_frame(printable(arrow_table, "csv"), "csv", console)   # id\\n1\\n2
"""

from __future__ import annotations

import sys

import duckdb
import pyarrow as pa
from rich.console import Console
from rich.table import Table

QUERY_FORMATS = ("table", "csv", "json")
NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list, pa.types.is_struct, pa.types.is_map)


def printable(answer: pa.Table, output: str):
    """``answer`` as a polars DataFrame that ``show_frame`` can print in ``output`` format."""
    import polars as pl

    quote = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    as_text = {
        field.name: f"CAST({quote(field.name)} AS VARCHAR)"
        if pa.types.is_interval(field.type)
        else f"CAST(to_json({quote(field.name)}) AS VARCHAR)"
        for field in answer.schema
        if pa.types.is_interval(field.type) or (output == "csv" and any(test(field.type) for test in NESTED))
    }
    if as_text:
        columns = ", ".join(
            f"{as_text[name]} AS {quote(name)}" if name in as_text else quote(name) for name in answer.column_names
        )
        con = duckdb.connect()
        try:
            con.register("answer", answer)
            answer = con.execute(f"SELECT {columns} FROM answer").to_arrow_table()
        finally:
            con.close()
    return pl.from_arrow(answer)


def show_frame(frame, output: str, console: Console) -> None:
    """Print a polars DataFrame in ``output`` format (one of ``QUERY_FORMATS``)."""
    if output == "csv":
        sys.stdout.write(frame.write_csv())
    elif output == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        view = Table(*frame.columns, title=f"{frame.height:,} rows")
        for row in frame.iter_rows():
            view.add_row(*("" if value is None else str(value) for value in row))
        console.print(view)
