"""The columns a sync names (primary_key, cursor, deleted_column) checked against the columns it read.

They are known only once the source's rows have landed; without this a misspelt name surfaced as
the store's own error (DuckDB's ``Binder Error: Referenced column "nope" not found``, a
``KeyError``) or a text flag as ``Cannot mix values of type VARCHAR and BOOLEAN in COALESCE``.

Example::

    check_named_columns("connection 'shop', table 'trial.customers'", {"id": "INTEGER"}, key=["nope"])
    # SyncColumnError: connection 'shop', table 'trial.customers': primary_key 'nope' is not a column (columns: id)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stagehouse.tasks.errors import SyncColumnError

# a whole-number flag counts as a boolean (non-zero: deleted): MySQL's BOOLEAN is tinyint(1)
INTEGER = re.compile(r"^(u?(tiny|small|big|huge)?int(eger)?|int[248])(\s*\(\d+\))?( unsigned)?$", re.IGNORECASE)


def is_flag(type_name: str) -> bool:
    """True for a column type a ``deleted_column`` may have: boolean, or a whole number."""
    return "bool" in type_name.lower() or INTEGER.match(type_name.strip()) is not None


def check_named_columns(
    source: str,
    columns: Mapping[str, str],
    *,
    key: list[str] | None = None,
    cursor: str | None = None,
    deleted_column: str | None = None,
) -> None:
    """Raise SyncColumnError for a named column that ``columns`` (name -> store type) lacks, or a
    ``deleted_column`` that is neither boolean nor a whole number."""
    named = [("primary_key", k) for k in key or []] + [("cursor", cursor), ("deleted_column", deleted_column)]
    for argument, column in named:
        if column is not None and column not in columns:
            raise SyncColumnError(source, argument, column, f"is not a column (columns: {', '.join(columns)})")
    if deleted_column is not None and not is_flag(columns[deleted_column]):
        raise SyncColumnError(
            source,
            "deleted_column",
            deleted_column,
            f"is {columns[deleted_column]}, not boolean (or a whole number, non-zero: deleted); sync a query= that "
            "reads it as one "
            f"(e.g. {deleted_column} = 'yes' AS {deleted_column})",
        )
