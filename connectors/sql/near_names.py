"""One-line messages about names that are not there: the close matches and the names there are.

Example::

    no_columns(["nme"], ["id", "name"])   # "no column 'nme'; did you mean name? (columns: id, name)"
    some_names(["a", "b"], shown=1)       # "a, … 1 more"
"""

from __future__ import annotations

import difflib

__all__ = ["no_columns", "some_names"]


def no_columns(unknown: list[str], columns: list[str]) -> str:
    """``unknown`` names, the columns close to them and the columns there are, for a one-line error.

    Example: ``no_columns(["nme"], ["id", "name"])`` → ``"no column 'nme'; did you mean name? (columns: id, name)"``"""
    close = dict.fromkeys(match for name in unknown for match in difflib.get_close_matches(str(name), columns, n=3))
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return (
        f"no column{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}{hint} (columns: "
        f"{some_names(columns)})"
    )


def some_names(names: list[str], shown: int = 10) -> str:
    """Up to ``shown`` names for a one-line message, then how many more."""
    more = f", … {len(names) - shown} more" if len(names) > shown else ""
    return (", ".join(names[:shown]) or "none") + more
