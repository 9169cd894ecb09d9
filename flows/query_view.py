"""How ``stagehouse query`` prints its answer: a table on the terminal, CSV or JSON records for a pipe.

Example::

    show_frame(pl.DataFrame({"id": [1, 2]}), "csv", console)   # id\\n1\\n2
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

QUERY_FORMATS = ("table", "csv", "json")


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
