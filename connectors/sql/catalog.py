"""The store's own catalog: declared primary keys, descriptions and stable ids of its objects.

pipedag recreates a stage's tables on every run that changes them (and DuckDB's read views on
every commit), so what a user or a task says about a table cannot live on the table alone: a
``COMMENT ON`` vanishes with the next run, and a key a sync declared has no constraint on
DuckDB or on a merge view. ``stagehouse_meta.catalog`` keeps it beside the stages, one row per
database (``schema_name`` ''), schema, table or field, with an id that never changes: the stage
commit re-applies the descriptions as real comments (``reapply_descriptions``) and the warehouse
client reads declared keys from it (``declared_key``), and the ``varchar(n)`` lengths a synced
source declares, which a DuckDB store's VARCHAR does not keep (``kept_lengths``).

Example::

    declare_key(engine, "raw", "customers", ["id"])
    describe(engine, Ref("raw", "customers", "email"), "Lower case")
    reapply_descriptions(engine, "raw")      # after the stage "raw" committed
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import sqlalchemy as sa

from stagehouse.connectors.sql.described import relation_kind
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.identifiers import quoted_name

META_SCHEMA = "stagehouse_meta"

CATALOG_ID = sa.Sequence("catalog_id", schema=META_SCHEMA)
CATALOG = sa.Table(
    "catalog",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, server_default=sa.text(f"nextval('{META_SCHEMA}.catalog_id')"), nullable=False),
    sa.Column("schema_name", sa.Text, nullable=False),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("field_name", sa.Text, nullable=False),
    sa.Column("primary_key", sa.Text),  # JSON list of columns, tables only
    sa.Column("description", sa.Text),
    sa.Column("max_lengths", sa.Text),  # JSON {column: n} of a synced source's varchar(n), tables only
    schema=META_SCHEMA,
)


class Ref(NamedTuple):
    """A catalog object: the database (all ''), a schema, a table or a field."""

    schema: str = ""
    table: str = ""
    field: str = ""

    @property
    def kind(self) -> str:
        return "field" if self.field else "table" if self.table else "schema" if self.schema else "database"


def _where(ref: Ref) -> sa.ColumnElement[bool]:
    return sa.and_(
        CATALOG.c.schema_name == ref.schema, CATALOG.c.table_name == ref.table, CATALOG.c.field_name == ref.field
    )


def exists(conn: sa.Connection) -> bool:
    """Whether the store has the catalog table (one query of the dialect's own catalog)."""
    return relation_kind(conn, META_SCHEMA, "catalog") is not None


def ensure(conn: sa.Connection) -> None:
    """Create the schema, id sequence and table if missing (idempotent)."""
    if exists(conn):
        return
    conn.execute(sa.schema.CreateSchema(META_SCHEMA, if_not_exists=True))
    conn.execute(sa.schema.CreateSequence(CATALOG_ID, if_not_exists=True))
    CATALOG.create(conn, checkfirst=True)


def _set(engine: sa.Engine, ref: Ref, values: dict[str, Any]) -> None:
    """Update ``ref``'s row with ``values``, inserting the row first when it is new. Tried twice:
    parallel tasks (Dask) may both create the catalog, and one of them loses that race."""
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                ensure(conn)
                if dialect_of(conn).affected_rows(conn, sa.update(CATALOG).where(_where(ref)).values(values)) == 0:
                    conn.execute(
                        sa.insert(CATALOG).values(
                            schema_name=ref.schema, table_name=ref.table, field_name=ref.field, **values
                        )
                    )
            return
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == 2:
                raise


def declare_key(
    engine: sa.Engine, schema: str, table: str, key: list[str] | None, lengths: dict[str, int] | None = None
) -> None:
    """Record the key a task declared for ``schema.table`` (None forgets an earlier one), and the
    ``varchar(n)`` lengths its source declares (a sync of a SQL table; None forgets them)."""
    _set(
        engine,
        Ref(schema, table),
        {"primary_key": json.dumps(key) if key else None, "max_lengths": json.dumps(lengths) if lengths else None},
    )


def declared_key(conn: sa.Connection, schema: str, table: str) -> list[str]:
    """The key a task declared for ``schema.table`` (empty when none): one query."""
    if not exists(conn):
        return []
    found = conn.execute(sa.select(CATALOG.c.primary_key).where(_where(Ref(schema, table)))).scalar()
    return json.loads(found) if found else []


def kept_lengths(conn: sa.Connection, schema: str, table: str) -> dict[str, int]:
    """Column -> the ``varchar(n)`` length the source of ``schema.table`` declares."""
    if not exists(conn):
        return {}
    found = conn.execute(sa.select(CATALOG.c.max_lengths).where(_where(Ref(schema, table)))).scalar()
    return json.loads(found) if found else {}


def describe(engine: sa.Engine, ref: Ref, description: str | None) -> None:
    """Keep ``ref``'s description (the caller also sets the comment now)."""
    _set(engine, ref, {"description": description})


def rows(conn: sa.Connection, schema: str | None = None, table: str | None = None) -> list[sa.RowMapping]:
    """The catalog rows of a schema (and table), or all of them."""
    if not exists(conn):
        return []
    query = sa.select(CATALOG).order_by(CATALOG.c.id)
    if schema is not None:
        query = query.where(CATALOG.c.schema_name == schema)
    if table is not None:
        query = query.where(CATALOG.c.table_name == table)
    return list(conn.execute(query).mappings())


def ids_of(engine: sa.Engine, refs: list[Ref]) -> dict[Ref, int]:
    """Stable ids of ``refs``, giving the ones met for the first time a new id (one insert)."""
    with engine.begin() as conn:
        ensure(conn)
        known = {Ref(r["schema_name"], r["table_name"], r["field_name"]): r["id"] for r in rows(conn)}
        new = [
            {"schema_name": r.schema, "table_name": r.table, "field_name": r.field}
            for r in dict.fromkeys(refs)
            if r not in known
        ]
        if new:
            conn.execute(sa.insert(CATALOG), new)
            known = {Ref(r["schema_name"], r["table_name"], r["field_name"]): r["id"] for r in rows(conn)}
    return {r: known[r] for r in refs}


def ref_of(engine: sa.Engine, object_id: int) -> Ref | None:
    """The object an id stands for, or None."""
    with engine.connect() as conn:
        if not exists(conn):
            return None
        row = (
            conn.execute(
                sa.select(CATALOG.c.schema_name, CATALOG.c.table_name, CATALOG.c.field_name).where(
                    CATALOG.c.id == object_id
                )
            )
            .mappings()
            .first()
        )
    return Ref(row["schema_name"], row["table_name"], row["field_name"]) if row else None


def comment_statement(conn: sa.Connection, ref: Ref, description: str | None) -> str | None:
    """The statement that sets ``ref``'s comment as it exists now (None when it does not exist)."""
    quote = conn.dialect.identifier_preparer.quote
    literal = (
        "NULL"
        if description is None
        else sa.literal(description, sa.Text).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    )
    if ref.kind == "database":
        return f"COMMENT ON DATABASE {quote(conn.engine.url.database or '')} IS {literal}"
    if ref.kind == "schema":
        return f"COMMENT ON SCHEMA {quote(ref.schema)} IS {literal}"
    kind = relation_kind(conn, ref.schema, ref.table)
    if kind is None:
        return None
    if ref.kind == "table":
        if kind == "VIEW":  # PostgreSQL refuses COMMENT ON TABLE for a view (a merge sync's output)
            return f"COMMENT ON VIEW {quoted_name(conn, ref.schema, ref.table)} IS {literal}"
        element: sa.schema.SetTableComment | sa.schema.SetColumnComment = sa.schema.SetTableComment(
            sa.Table(ref.table, sa.MetaData(), comment=description, schema=ref.schema)
        )
    else:
        columns = sa.text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND table_name = :t AND column_name = :f"
        )
        if conn.execute(columns, {"s": ref.schema, "t": ref.table, "f": ref.field}).first() is None:
            return None
        column: sa.Column[Any] = sa.Column(ref.field, comment=description)
        sa.Table(ref.table, sa.MetaData(), column, schema=ref.schema)
        element = sa.schema.SetColumnComment(column)
    return str(element.compile(dialect=conn.dialect))


def kept_description(conn: sa.Connection, ref: Ref) -> str | None:
    """The description kept for ``ref`` (None when none)."""
    if not exists(conn):
        return None
    return conn.execute(sa.select(CATALOG.c.description).where(_where(ref))).scalar()


def reapply_descriptions(engine: sa.Engine, schema: str) -> int:
    """Set the kept descriptions of ``schema`` and its tables and fields as comments again (after
    a stage commit recreated them). Objects that are gone are left out. Returns how many."""
    applied = 0
    with engine.begin() as conn:
        wanted = [r for r in rows(conn, schema) if r["description"] is not None]
        capable = dialect_of(
            conn
        ).capabilities.comment_kinds  # DuckDB: "Adding comments to schemas/databases is not implemented"
        for row in wanted:
            ref = Ref(row["schema_name"], row["table_name"], row["field_name"])
            statement = comment_statement(conn, ref, row["description"]) if ref.kind in capable else None
            if statement is not None:
                conn.execute(sa.text(statement))
                applied += 1
    return applied
