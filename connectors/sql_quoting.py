"""SQL names and string literals quoted as standard SQL writes them, for statements built as text.

DuckDB and PostgreSQL both read ``"name"`` as an identifier taken literally and ``'text'`` as a
string, each doubling its own quote inside. Here without DuckDB or SQLAlchemy, so a module on a
cold path (a PostgreSQL store's checks) imports nothing heavy for it.

Example::

    f"SELECT {quote_identifier('Order ID')} FROM t WHERE note = {quote_literal(\"it's\")}"
    # SELECT "Order ID" FROM t WHERE note = 'it''s'
"""

from __future__ import annotations


def quote_literal(text: str) -> str:
    """A SQL string literal (for statements that take no bind parameters)."""
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """An identifier, quoted so any name is taken literally."""
    return '"' + name.replace('"', '""') + '"'
