"""What a SQL source answers cheaply about a table or query, so a sync knows whether to read it:
row count and cursor maximum, the rows at the maximum, a content fingerprint. Each is one query
the source runs itself; nothing is transferred but the answer.

Example::

    shop.freshness("public.orders", cursor="updated_at")   # {"rows": 1200, "max_cursor": "2026-11-30 ..."}
    shop.fingerprint("public.orders")                     # {"rows": 1200, "content": "9f3c..."}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stagehouse.connectors.errors import SourceError
from stagehouse.connectors.sql.fingerprint import FINGERPRINTS, literal_sql
from stagehouse.connectors.sql.identifiers import quoted_name
from stagehouse.connectors.sync_source import given_query


class FreshnessQueries:
    """The freshness questions of ``SqlConnection`` (its ``engine``, ``backend``,
    ``split_table`` and ``_error``)."""

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    name: str
    backend: str
    split_table: Callable[[str], tuple[str | None, str]]
    _error: Callable[[str, BaseException], SourceError]

    def freshness(
        self, table: str | None = None, *, query: str | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """Row count and, given a cursor column, its maximum: cheap to ask, changes when data does.

        Asked of the database itself (``SELECT count(*), max(cursor)``), so it costs an index or
        a table scan in the source, never a transfer.
        """
        source, obj = self._relation(table, query)
        columns = [sa.func.count().label("rows")]
        if cursor:
            columns.append(sa.func.max(sa.column(cursor)).label("max_cursor"))
        return self._ask(obj, sa.select(*columns).select_from(source))

    def cursor_freshness(self, table: str | None = None, *, query: str | None = None, cursor: str) -> dict[str, Any]:
        """``max(cursor)`` and how many rows hold it: what an incremental or merge sync's next
        read can bring. A new row at the maximum (a tie with the high-water mark) changes the
        count; an index on the cursor answers both without reading the table."""
        source, obj = self._relation(table, query)
        column: sa.ColumnClause[Any] = sa.column(cursor)
        top = sa.select(sa.func.max(column)).select_from(source).scalar_subquery().correlate(None)
        at_top = sa.select(sa.func.count()).select_from(source).where(column == top).scalar_subquery().correlate(None)
        try:
            return self._ask(obj, sa.select(top.label("max_cursor"), at_top.label("rows_at_max")))
        except SourceError:
            columns = self._column_names(source)  # asked only when the question failed
            if columns is not None and cursor not in columns:
                problem = f"cursor '{cursor}' is not a column (columns: {', '.join(columns)})"
                raise SourceError(self.name, obj, problem) from None
            raise

    def _column_names(self, source: sa.FromClause) -> list[str] | None:
        """The columns of ``source`` (None when the source cannot even describe it)."""
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(sa.select(sa.text("*")).select_from(source).limit(0)).keys())
        except sa.exc.SQLAlchemyError:
            return None

    def fingerprint(self, table: str | None = None, *, query: str | None = None) -> dict[str, Any] | None:
        """``rows`` and a ``content`` hash of every row, computed in the source in one pass
        (``connectors.sql.fingerprint``); None for a dialect without a cheap one (SQLite)."""
        builder = FINGERPRINTS.get(self.backend)
        if builder is None:
            return None
        if table is not None:
            relation, obj = quoted_name(self.engine, *self.split_table(table)), f"table '{table}'"
        else:
            relation, obj = f"({query})", "query"
        return self._ask(obj, lambda conn: literal_sql(builder(conn, relation)))

    def _relation(self, table: str | None, query: str | None) -> tuple[sa.FromClause, str]:
        if table is not None:
            schema, name = self.split_table(table)
            return sa.table(name, schema=schema), f"table '{table}'"
        return literal_sql(given_query(query)).columns().subquery("q"), "query"

    def _ask(self, obj: str, statement: sa.Executable | Callable[[sa.Connection], sa.Executable]) -> dict[str, Any]:
        """The one row ``statement`` (or the one it is built into on the connection) answers, its
        values as JSON-able scalars (a cache key)."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(statement(conn) if callable(statement) else statement).mappings().one()
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(obj, exc) from exc
        return {
            key: (value if isinstance(value, (int, float, str)) or value is None else str(value))
            for key, value in row.items()
        }
