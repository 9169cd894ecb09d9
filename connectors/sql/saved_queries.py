"""The warehouse client's saved queries: ``add_query``/``upsert_query`` keep a query as a view or
a materialized table, recorded in ``stagehouse_meta.saved_queries``; ``list_queries`` lists them.

Example::

    wh = connect("warehouse")
    wh.upsert_query("reports", "big_orders", "SELECT * FROM raw.orders WHERE total > 100", as_view=False)
    wh.list_queries()   # [{'schema': 'reports', 'name': 'big_orders', 'sql': ..., 'as_view': False, ...}]
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError, first_line
from stagehouse.connectors.sql.catalog import META_SCHEMA
from stagehouse.connectors.sql.described import relation_kind
from stagehouse.connectors.sql.identifiers import checked, quoted_name

__all__ = ["SAVED_QUERIES", "SavedQueryVerbs"]


class SavedQueryVerbs:
    """Saved queries, mixed into the warehouse client (``StoreConnection``)."""

    name: str

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    def add_query(self, schema: str, name: str, sql: str, *, as_view: bool = True) -> None:
        """Save ``sql`` as a view (or a materialized table) ``schema.name``; an error if it exists."""
        self._save_query(schema, name, sql, as_view, replace=False)

    def upsert_query(self, schema: str, name: str, sql: str, *, as_view: bool = True) -> None:
        """Save or replace the query ``schema.name`` (a table is rebuilt in one transaction)."""
        self._save_query(schema, name, sql, as_view, replace=True)

    def list_queries(self) -> list[dict[str, Any]]:
        """The saved queries: schema, name, sql, as_view, updated_at."""
        with self.engine.connect() as conn:
            if not _has_table(conn, META_SCHEMA, "saved_queries"):
                return []
            return [
                dict(r)
                for r in conn.execute(
                    sa.select(SAVED_QUERIES).order_by(SAVED_QUERIES.c.schema, SAVED_QUERIES.c.name)
                ).mappings()
            ]

    def _save_query(self, schema: str, name: str, sql: str, as_view: bool, replace: bool) -> None:
        schema, name = checked(self.name, "schema", schema), checked(self.name, "table", name)
        target = quoted_name(self.engine, schema, name)
        with self.engine.begin() as conn:
            exists = _has_table(conn, schema, name)
            if exists and not replace:
                raise WarehouseError(
                    self.name, f"query '{schema}.{name}'", "already exists; use upsert_query to replace it"
                )
            conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            conn.execute(sa.schema.CreateSchema(META_SCHEMA, if_not_exists=True))
            SAVED_QUERIES.create(conn, checkfirst=True)
            if exists:
                kind = relation_kind(conn, schema, name)
                conn.execute(sa.text(f"DROP {kind} {target}"))
            try:
                conn.execute(sa.text(f"CREATE {'VIEW' if as_view else 'TABLE'} {target} AS {sql}"))
            except sa.exc.SQLAlchemyError as exc:
                raise WarehouseError(self.name, f"query '{schema}.{name}'", first_line(exc)) from exc
            conn.execute(sa.delete(SAVED_QUERIES).where(SAVED_QUERIES.c.schema == schema, SAVED_QUERIES.c.name == name))
            conn.execute(
                sa.insert(SAVED_QUERIES).values(
                    schema=schema, name=name, sql=sql, as_view=as_view, updated_at=dt.datetime.now(dt.UTC)
                )
            )


SAVED_QUERIES = sa.Table(
    "saved_queries",
    sa.MetaData(),
    sa.Column("schema", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("as_view", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    schema=META_SCHEMA,
)


def _has_table(conn: sa.Connection, schema: str, name: str) -> bool:
    query = sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = :n")
    return conn.execute(query, {"s": schema, "n": name}).first() is not None
