"""The warehouse client's change-log verbs: edit cells and rows centrally, list and mark changes.

Edits never touch the synced table: they are appended to the change log and layered on every
read through Stagehouse (``fetch``, the CLI, transforms that opt in), until their writeback to the
source app is PROCESSED and the synced table confirms it (``connectors.sql.confirm``).

Example::

    wh = connect("warehouse")
    wh.update_cell("raw.customers", "email", 7, "new@example.com")
    wh.insert_row("raw.customers", {"id": 1001, "name": "Ada"})
    wh.delete_row("raw.customers", 12)
    wh.list_changes("raw.customers", writeback_status=["FAILED", "CONFLICT"])
    wh.update_change(3, "NOT_PROCESSED")          # send it again on the next writeback
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from stagehouse.connectors.errors import WarehouseError
from stagehouse.connectors.sql.catalog import Ref, kept_lengths
from stagehouse.connectors.sql.changelog import CHANGE_LOG, DISCARDABLE, STATUSES, TYPES, ChangeLog, utc_now
from stagehouse.connectors.sql.confirm import fingerprint_statement, retire_confirmed_statement
from stagehouse.connectors.sql.described import described_table
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.connectors.sql.edit_values import check_fits, fitted
from stagehouse.connectors.sql.identifiers import checked, checked_table, dotted
from stagehouse.connectors.sql.overlay import overlay_select


def _user(user: str | None) -> str:
    return user or os.environ.get("STAGEHOUSE_USER") or getpass.getuser()


class ChangeVerbs:
    """update_cell/insert_row/delete_row/list_changes/update_change, mixed into the warehouse client
    (``StoreConnection``)."""

    name: str

    if TYPE_CHECKING:

        @property
        def engine(self) -> sa.Engine: ...  # the connection's (a cached_property there)

    _resolve: Callable[[str, int | None, Ref | None], Ref]  # MetadataVerbs: an object by name or id
    check_columns: Callable[..., None]  # MetadataVerbs: unknown columns named with close matches
    table: Callable[[str | None, str], sa.Table]  # WarehouseVerbs: a table, reflected
    _key: Callable[[sa.Table, str | None], str]  # WarehouseVerbs: the single-column key
    arrow: Callable[[sa.Executable | str], pa.Table]  # WarehouseVerbs: a query's result

    @cached_property
    def change_log(self) -> ChangeLog:
        return ChangeLog(self.engine)

    def overlaid(self, base: sa.Table) -> sa.Select | sa.CompoundSelect:
        """``base`` with the layered edits of the change log applied (plain SELECT if none)."""
        name = _table_name(base)
        store = dialect_of(self.engine)
        key = self.change_log.layered_key(name) if store.capabilities.change_log_overlay else None
        if key is None:
            return sa.select(base)
        return overlay_select(store, base, key, name)

    def retire_confirmed(self, table: str) -> None:
        """Stop layering the PROCESSED edits of ``table`` that its synced data confirms (the row
        holds the written value, a deleted row is gone, a newer version of the record arrived).
        Writeback calls it first."""
        label = _label(self.name, table)
        fields = self.change_log.processed_layered_fields(label)
        if not fields or (synced := self._synced(label)) is None:
            return
        base, key = synced
        edited = sorted(f for f in fields if f is not None and f in base.c and f != key)
        with self.engine.begin() as conn:
            conn.execute(retire_confirmed_statement(dialect_of(self.engine), base, key, label, edited, utc_now()))

    def claim_for_writeback(self, table: str, statuses: list[str]) -> list[dict[str, Any]]:
        """Claim ``table``'s changes in ``statuses`` (with those an interrupted writeback left
        PROCESSING), noting first the synced row each edits: what ``retire_confirmed`` later
        compares with to tell whether a sync brought a newer version of the record."""
        label = _label(self.name, table)
        synced = self._synced(label)
        if synced is not None:
            base, key = synced
            with self.engine.begin() as conn:
                conn.execute(fingerprint_statement(base, key, label, [*statuses, "PROCESSING"]))
        return self.change_log.claim(label, statuses)

    def _synced(self, label: str) -> tuple[sa.Table, str] | None:
        """The synced table of ``label``'s edits and the key they use; None if either is missing."""
        key = self.change_log.pk_field(label)
        schema, name = checked_table(self.name, label)
        base = described_table(self.engine, schema, name) if key else None
        return (base, key) if key is not None and base is not None and key in base.c else None

    def update_cell(
        self, table: str, field: str, row_pk: Any, value: Any, *, pk: str | None = None, user: str | None = None
    ) -> int:
        """Record ``table.field = value`` for the row keyed ``row_pk``; returns the change id."""
        base, key = self._edited(table, pk)
        checked(self.name, "column", field)
        self.check_columns(base, [field])
        if field == key:
            raise WarehouseError(
                self.name, f"table '{_table_name(base)}'", f"'{field}' is the key; delete the row and insert a new one"
            )
        value = fitted(base, {field: value})[field]
        check_fits(self.name, self.engine, base, {field: value}, row_pk, self.source_lengths(base))
        seen = self._row(base, key, row_pk)
        return self.change_log.append(
            _table_name(base), key, row_pk, "u", field=field, old=seen[field], new=value, user=_user(user)
        )

    def insert_row(
        self, table: str, record: Mapping[str, Any], *, pk: str | None = None, user: str | None = None
    ) -> int:
        """Record a new row (it must carry its key); returns the change id."""
        base, key = self._edited(table, pk)
        self.check_columns(base, record)
        if record.get(key) is None:
            raise WarehouseError(
                self.name, f"table '{_table_name(base)}'", f"the new row needs a value for its key '{key}'"
            )
        record = fitted(base, record)
        check_fits(self.name, self.engine, base, record, record[key], self.source_lengths(base))
        if self._find(base, key, record[key]) is not None:
            raise WarehouseError(
                self.name, f"table '{_table_name(base)}'", f"a row with {key} = {record[key]!r} already exists"
            )
        return self.change_log.append(_table_name(base), key, record[key], "i", new=dict(record), user=_user(user))

    def delete_row(self, table: str, row_pk: Any, *, pk: str | None = None, user: str | None = None) -> int:
        """Record the deletion of the row keyed ``row_pk``; returns the change id."""
        base, key = self._edited(table, pk)
        seen = self._row(base, key, row_pk)
        return self.change_log.append(_table_name(base), key, row_pk, "d", old=seen, user=_user(user))

    def list_changes(
        self,
        table: str | None = None,
        *,
        writeback_status: str | Iterable[str] | None = None,
        type: str | Iterable[str] | None = None,
        limit: int | None = None,
        status: str | Iterable[str] | None = None,
        table_name: str | None = None,
        table_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Changes oldest first; ``writeback_status`` and ``type`` take one value or a list.

        Peliqan's forms work too: ``status=`` for ``writeback_status``, ``table_name=`` (also a
        bare name when one schema's table has edits by that name) and ``table_id=`` (``get_table``'s id).
        """
        table = self._changed_table(table, table_name, table_id)
        statuses = _known(
            self.name, "status", _either(self.name, "writeback_status", writeback_status, status), STATUSES, str.upper
        )
        changes = self.change_log.select(
            table, writeback_status=statuses, type=_known(self.name, "type", type, TYPES, str.lower), limit=limit
        )
        if not changes and table is not None:
            self.table(
                *checked_table(self.name, table)
            )  # an unknown table is an error naming the tables there are, not []
        return changes

    def update_change(
        self,
        change_id: int,
        writeback_status: str | None = None,
        error: str | None = None,
        *,
        status: str | None = None,
        table_name: str | None = None,
        table_id: int | None = None,
    ) -> None:
        """Set a change's writeback status (e.g. back to NOT_PROCESSED to resend it).

        Peliqan's ``update_change(change_id=…, status=…)`` works too; ``table_name``/``table_id``,
        when given, must be the change's table."""
        writeback_status = _either(self.name, "writeback_status", writeback_status, status)
        if writeback_status not in STATUSES:
            raise WarehouseError(
                self.name,
                f"change {change_id}",
                f"unknown status '{writeback_status}' (use one of {', '.join(STATUSES)})",
            )
        found = self.change_log.select(ids=[change_id])
        if not found:
            raise WarehouseError(self.name, f"change {change_id}", "does not exist")
        if (table_name or table_id) is not None and self._changed_table(None, table_name, table_id) != found[0][
            "table_name"
        ]:
            raise WarehouseError(
                self.name, f"change {change_id}", f"belongs to table '{found[0]['table_name']}', not the one given"
            )
        self.change_log.set_status([(change_id, writeback_status, error)])

    def discard_change(self, change_id: int, *, user: str | None = None, table_name: str | None = None) -> None:
        """Take back an edit not sent yet, or sent and refused (FAILED, CONFLICT): reads stop showing
        it and no writeback sends it (DISCARDED). A sent edit (PROCESSED) is in the app: edit the
        cell back instead."""
        found = self.change_log.select(ids=[change_id])
        if not found:
            raise WarehouseError(self.name, f"change {change_id}", "does not exist")
        if table_name is not None and self._changed_table(None, table_name, None) != found[0]["table_name"]:
            raise WarehouseError(
                self.name, f"change {change_id}", f"belongs to table '{found[0]['table_name']}', not the one given"
            )
        if not self.change_log.discard(change_id, f"discarded by {_user(user)}"):
            status = self.change_log.select(ids=[change_id])[0]["writeback_status"]
            raise WarehouseError(
                self.name,
                f"change {change_id}",
                f"is {status}: only a change that is {', '.join(DISCARDABLE)} can be discarded"
                + ("; it is in the app already, so edit the cell back instead" if status == "PROCESSED" else ""),
            )

    def _changed_table(self, table: str | None, table_name: str | None, table_id: int | None) -> str | None:
        """'schema.table' of the change log from one of ``table``, Peliqan's ``table_name`` or ``table_id``."""
        given = [g for g in (table, table_name, table_id) if g is not None]
        if len(given) > 1:
            raise WarehouseError(self.name, "list_changes", "name the table once: table, table_name= or table_id=")
        if table_id is not None:
            ref = self._resolve("table", table_id, None)
            return f"{ref.schema}.{ref.table}"
        if table is None and table_name is None:
            return None
        schema, name = checked_table(self.name, table or table_name or "")
        if schema is not None or table_name is None:
            return dotted(schema, name)
        edited = _edited_tables(self.change_log, name)
        if len(edited) > 1:
            raise WarehouseError(
                self.name,
                f"table '{name}'",
                f"has edits in several schemas ({', '.join(edited)}); pass table_name='schema.{name}'",
            )
        return edited[0] if edited else name

    def _edited(self, table: str, pk: str | None) -> tuple[sa.Table, str]:
        schema, name = checked_table(self.name, table)
        base = self.table(schema, name)
        key = pk or self.change_log.pk_field(_table_name(base)) or self._key(base, None)
        self.check_columns(base, [key], "pass pk= a column that keys the table")
        return base, key

    def source_lengths(self, base: sa.Table) -> dict[str, int]:
        """The ``varchar(n)`` lengths ``base``'s source declares, kept by its sync (a DuckDB
        store's VARCHAR has none of its own)."""
        with self.engine.connect() as conn:
            return kept_lengths(conn, base.schema or conn.dialect.default_schema_name or "", base.name)

    def _find(self, base: sa.Table, key: str, row_pk: Any) -> dict[str, Any] | None:
        """The row keyed ``row_pk`` as reads show it; refused when the key names several rows (a
        ``pk=`` that is not unique: the edit would change each of them)."""
        view = self.overlaid(base).subquery("seen")
        matching = sa.select(view).where(sa.cast(view.c[key], sa.Text) == str(row_pk)).limit(2)
        rows = self.arrow(matching).to_pylist()
        if len(rows) > 1:
            raise WarehouseError(
                self.name,
                f"table '{_table_name(base)}'",
                f"{key} = {row_pk!r} names more than one row, so an edit of it would change each of them; pass "
                "pk= a column whose values are unique (a table keyed by several columns cannot be edited yet)",
            )
        return rows[0] if rows else None

    def _row(self, base: sa.Table, key: str, row_pk: Any) -> dict[str, Any]:
        row = self._find(base, key, row_pk)
        if row is None:
            raise WarehouseError(self.name, f"table '{_table_name(base)}'", f"no row with {key} = {row_pk!r}")
        return row


def _edited_tables(log: ChangeLog, name: str) -> list[str]:
    """The change log's tables called ``name`` in any schema."""
    if not log.exists():
        return []
    query = (
        sa.select(CHANGE_LOG.c.table_name)
        .distinct()
        .where(CHANGE_LOG.c.table_name.like(f"%.{name}"))
        .order_by(CHANGE_LOG.c.table_name)
    )
    with log.engine.connect() as conn:
        return [
            t for t in conn.execute(query).scalars() if t.rpartition(".")[2] == name
        ]  # LIKE's _ matches any character


def _either(connection: str, name: str, ours: Any, peliqan: Any) -> Any:
    """The value given as ``name`` or as Peliqan's ``status``; both is an error."""
    if ours is not None and peliqan is not None:
        raise WarehouseError(connection, "change log", f"pass {name}= or status=, not both")
    return ours if ours is not None else peliqan


def _known(
    connection: str, what: str, given: str | Iterable[str] | None, known: tuple[str, ...], normal: Callable[[str], str]
) -> list[str] | None:
    """``given`` (one value or several) in its normal case, each one of ``known``; None for None."""
    if given is None:
        return None
    values = [normal(v) for v in ([given] if isinstance(given, str) else given)]
    unknown = [v for v in values if v not in known]
    if unknown:
        raise WarehouseError(
            connection, "list_changes", f"unknown {what} {', '.join(unknown)} (use one of {', '.join(known)})"
        )
    return values


def _label(connection: str, table: str) -> str:
    """``"schema.table"`` as the change log names it."""
    return dotted(*checked_table(connection, table))


def _table_name(base: sa.Table) -> str:
    return dotted(base.schema, base.name)
