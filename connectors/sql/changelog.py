"""The change log: manual edits of synced tables, kept in the store outside the stage schemas.

One row per user action — ``u`` (one cell), ``i`` (a whole record, as JSON), ``d`` (a row) —
with the value the editor saw, the new value (both JSON), who and when, and the writeback state:
NOT_PROCESSED -> PROCESSING (claimed by a writeback before it calls the app) -> PROCESSED,
FAILED or CONFLICT. The table lives in schema ``stagehouse_meta``, which no stage's schema swap
touches, so a sync never wipes it. An edit is layered on reads (``overlay``) until it is
``retired``: its writeback is PROCESSED and the synced table confirms it (``confirm``).

Example::

    log = ChangeLog(engine)
    log.append("raw.customers", "id", "7", "u", field="email", old="a@x.io", new="b@x.io", user="ana")
    log.select(table="raw.customers", writeback_status=["NOT_PROCESSED", "FAILED"])
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.metadata import META_SCHEMA

STATUSES = ("NOT_PROCESSED", "PROCESSING", "PROCESSED", "FAILED", "CONFLICT", "DISCARDED")
DISCARDABLE = ("NOT_PROCESSED", "FAILED", "CONFLICT")  # not sent yet, or sent and refused
TYPES = ("i", "u", "d")

CHANGE_ID = sa.Sequence("change_log_id", schema=META_SCHEMA)
CHANGE_LOG = sa.Table(
    "change_log",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, server_default=sa.text(f"nextval('{META_SCHEMA}.change_log_id')"), primary_key=True),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("pk_field", sa.Text, nullable=False),
    sa.Column("row_pk", sa.Text, nullable=False),
    sa.Column("field", sa.Text),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("type", sa.String(1), nullable=False),
    sa.Column("changed_by", sa.Text),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("writeback_status", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("processed_at", sa.DateTime(timezone=True)),
    sa.Column("retired_at", sa.DateTime(timezone=True)),
    sa.Column("synced_row", sa.Text),  # fingerprint of the synced row when a writeback claimed the change (confirm)
    schema=META_SCHEMA,
)


def as_json(value: Any) -> str:
    """A cell value as JSON text (dates and decimals as strings)."""
    return json.dumps(value, default=str)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _log_row(
    table: str,
    pk_field: str,
    row_pk: Any,
    kind: str,
    field: str | None,
    old: Any,
    new: Any,
    user: str | None,
    at: dt.datetime,
) -> dict[str, Any]:
    """One change-log row, NOT_PROCESSED, values as JSON."""
    return {
        "table_name": table,
        "pk_field": pk_field,
        "row_pk": str(row_pk),
        "field": field,
        "type": kind,
        "old_value": as_json(old),
        "new_value": as_json(new),
        "changed_by": user,
        "changed_at": at,
        "writeback_status": "NOT_PROCESSED",
        "attempts": 0,
    }


def _listed(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class ChangeLog:
    """Reads and writes ``stagehouse_meta.change_log`` of one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._ready = False

    def ensure(self) -> None:
        """Create the schema, id sequence and table if missing (idempotent)."""
        if self._ready:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(META_SCHEMA, if_not_exists=True))
            conn.execute(sa.schema.CreateSequence(CHANGE_ID, if_not_exists=True))
            CHANGE_LOG.create(conn, checkfirst=True)
        self._ready = True

    def exists(self) -> bool:
        """Whether the store has a change log."""
        if self._ready:
            return True
        query = sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = 'change_log'")
        with self.engine.connect() as conn:
            found = conn.execute(query, {"s": META_SCHEMA}).first() is not None
        self._ready = found
        return found

    def append(
        self,
        table: str,
        pk_field: str,
        row_pk: Any,
        kind: str,
        *,
        field: str | None = None,
        old: Any = None,
        new: Any = None,
        user: str | None = None,
    ) -> int:
        """Record one edit; returns its id."""
        self.ensure()
        row = _log_row(table, pk_field, row_pk, kind, field, old, new, user, utc_now())
        with self.engine.begin() as conn:
            return conn.execute(sa.insert(CHANGE_LOG).values(row).returning(CHANGE_LOG.c.id)).scalar_one()

    def append_many(self, changes: Iterable[dict[str, Any]], *, user: str | None = None) -> int:
        """Record many edits in one statement; each dict has ``table``, ``pk_field``, ``row_pk``,
        ``type`` and, as for ``append``, ``field``, ``old``, ``new``. Returns how many.

        Example: ``log.append_many({"table": "raw.t", "pk_field": "id", "row_pk": i, "type": "u",
        "field": "city", "old": "Oslo", "new": "Bergen"} for i in ids)``
        """
        now = utc_now()
        rows = [
            _log_row(
                c["table"], c["pk_field"], c["row_pk"], c["type"], c.get("field"), c.get("old"), c.get("new"), user, now
            )
            for c in changes
        ]
        if not rows:
            return 0
        self.ensure()
        with self.engine.begin() as conn:
            conn.execute(sa.insert(CHANGE_LOG), rows)
            analyze = dialect_of(conn).analyze_statement(f"{META_SCHEMA}.change_log", [])
            if analyze:  # fresh statistics, or overlay reads plan for an empty log
                conn.execute(sa.text(analyze))
        return len(rows)

    def select(
        self,
        table: str | None = None,
        *,
        writeback_status: str | Iterable[str] | None = None,
        type: str | Iterable[str] | None = None,
        ids: Sequence[int] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Changes, oldest first, filtered by table, status(es), type(s) or ids."""
        if not self.exists():
            return []
        query = sa.select(CHANGE_LOG).order_by(CHANGE_LOG.c.id)
        if table is not None:
            query = query.where(CHANGE_LOG.c.table_name == table)
        if (statuses := _listed(writeback_status)) is not None:
            query = query.where(CHANGE_LOG.c.writeback_status.in_(statuses))
        if (types := _listed(type)) is not None:
            query = query.where(CHANGE_LOG.c.type.in_(types))
        if ids is not None:
            query = query.where(CHANGE_LOG.c.id.in_(list(ids)))
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def pk_field(self, table: str) -> str | None:
        """The key column earlier edits of ``table`` used, if any."""
        if not self.exists():
            return None
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(CHANGE_LOG.c.pk_field).where(CHANGE_LOG.c.table_name == table).limit(1)
            ).scalar()

    def layered_key(self, table: str) -> str | None:
        """The key column of ``table``'s edits still layered on reads; None when there are none."""
        if not self.exists():
            return None
        query = (
            sa.select(CHANGE_LOG.c.pk_field)
            .where(CHANGE_LOG.c.table_name == table, CHANGE_LOG.c.retired_at.is_(None))
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def set_status(self, outcomes: Sequence[tuple[int, str, str | None]]) -> None:
        """Mark many changes at once: ``(id, status, error)``; one statement per call."""
        if not outcomes:
            return
        values = sa.values(
            sa.column("cid", sa.BigInteger), sa.column("status", sa.Text), sa.column("err", sa.Text), name="outcome"
        ).data(list(outcomes))
        now = utc_now()
        statement = (
            sa.update(CHANGE_LOG)
            .where(CHANGE_LOG.c.id == values.c.cid)
            .values(
                writeback_status=values.c.status,
                error=values.c.err,
                processed_at=sa.case(
                    (values.c.status == "PROCESSED", sa.literal(now, sa.DateTime(timezone=True))),
                    else_=CHANGE_LOG.c.processed_at,
                ),
            )
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def discard(self, change_id: int, note: str) -> bool:
        """DISCARDED and retired (reads stop layering it, no writeback sends it), in one statement
        that also checks it is still discardable; False when it is not (claimed or sent meanwhile)."""
        statement = (
            sa.update(CHANGE_LOG)
            .where(CHANGE_LOG.c.id == change_id, CHANGE_LOG.c.writeback_status.in_(DISCARDABLE))
            .values(writeback_status="DISCARDED", error=note, retired_at=utc_now())
            .returning(CHANGE_LOG.c.id)
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).first() is not None

    def claim(self, table: str, statuses: Sequence[str]) -> list[dict[str, Any]]:
        """Mark the table's changes in ``statuses`` as PROCESSING (attempts + 1) and return them,
        together with changes an earlier, interrupted writeback had claimed (``resumed`` True)."""
        if not self.exists():
            return []
        with self.engine.begin() as conn:
            resumed = [
                dict(r, resumed=True)
                for r in conn.execute(
                    sa.select(CHANGE_LOG).where(
                        CHANGE_LOG.c.table_name == table, CHANGE_LOG.c.writeback_status == "PROCESSING"
                    )
                ).mappings()
            ]
            claimed = [
                dict(r, resumed=False)
                for r in conn.execute(
                    sa.update(CHANGE_LOG)
                    .where(CHANGE_LOG.c.table_name == table, CHANGE_LOG.c.writeback_status.in_(list(statuses)))
                    .values(
                        writeback_status="PROCESSING",
                        attempts=CHANGE_LOG.c.attempts + 1,
                        claimed_at=utc_now(),
                        error=None,
                    )
                    .returning(*CHANGE_LOG.columns)
                ).mappings()
            ]
        return sorted(resumed + claimed, key=lambda c: c["id"])

    def processed_layered_fields(self, table: str) -> set[str | None] | None:
        """The fields (None for row events) of ``table``'s PROCESSED edits still layered on reads;
        None when there are none, so a writeback with nothing to confirm costs one small query."""
        if not self.exists():
            return None
        query = (
            sa.select(CHANGE_LOG.c.field)
            .distinct()
            .where(
                CHANGE_LOG.c.table_name == table,
                CHANGE_LOG.c.writeback_status == "PROCESSED",
                CHANGE_LOG.c.retired_at.is_(None),
            )
        )
        with self.engine.connect() as conn:
            fields = set(conn.execute(query).scalars())
        return fields or None
