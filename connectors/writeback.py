"""Push the change log's edits of one table back to the app they came from, exactly once.

Per change: claimed first (PROCESSING, committed before any request), then checked against the
app and sent, then marked PROCESSED, FAILED (with the app's message) or CONFLICT. A writeback
killed at any point leaves changes PROCESSING; the next one resumes them by checking the app
before resending — an update whose new value is already there, an insert whose record exists,
a delete whose record is gone is marked PROCESSED without a second request — so each change
reaches the app once.

Conflict detection: before an update the app's current value of the field is compared with the
value the editor saw; if someone changed it in the app meanwhile, the change is CONFLICT and not
written (``overwrite=True`` writes anyway). Rows are independent and pushed with bounded
concurrency; the changes of one row go in order, its updates merged into one request. An object
with ``batch_lookup`` gets the app's current records for many rows in one request.

Example::

    report = push_changes(connect("warehouse"), "raw.customers", connect("crm"), "customers",
                          field_map={"email": "emailAddress"}, concurrency=8)
    report.counts   # {'PROCESSED': 120, 'FAILED': 1, 'CONFLICT': 2}
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import StagehouseError
from connectors.rest.source import RestConnection
from connectors.sql.source import SqlConnection

Outcome = tuple[int, str, str | None]
MARK_EVERY = 500


@dataclass
class WritebackReport:
    """How many changes ended in each status, and the outcome of each change."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(status for _, status, _ in self.outcomes))


def _same(a: Any, b: Any) -> bool:
    """Equal as the app would show them (5 == 5.0 == "5"; None only equals None)."""
    if a is None or b is None:
        return a is b
    return a == b or str(a) == str(b)


class _RowPusher:
    """Applies the changes of one row, in order, to one app object."""

    def __init__(self, api: RestConnection, obj: str, field_map: Mapping[str, str], overwrite: bool) -> None:
        self.api, self.obj, self.field_map, self.overwrite = api, obj, field_map, overwrite
        self.id_field = api.object(obj).id_field

    def app_record(self, record: Mapping[str, Any], pk_field: str) -> dict[str, Any]:
        mapped = {self.field_map.get(k, k): v for k, v in record.items()}
        mapped[self.id_field] = mapped.pop(self.field_map.get(pk_field, pk_field), record.get(pk_field))
        return mapped

    def push_many(self, rows: list[list[dict[str, Any]]]) -> list[Outcome]:
        """Push several rows, their current app records fetched together (``get_many``)."""
        try:
            current = self.api.get_many(self.obj, [changes[0]["row_pk"] for changes in rows])
        except StagehouseError as exc:
            return [(change["id"], "FAILED", str(exc)) for changes in rows for change in changes]
        return [outcome for changes in rows for outcome in self.push(changes, current.get(changes[0]["row_pk"]), fetched=True)]

    def push(self, changes: list[dict[str, Any]], current: dict[str, Any] | None = None, *, fetched: bool = False) -> list[Outcome]:
        """Push one row's changes; ``current`` is its app record when already ``fetched``."""
        outcomes: list[Outcome] = []
        row_pk = changes[0]["row_pk"]
        pending: list[tuple[dict[str, Any], str, Any]] = []

        def flush() -> None:
            if not pending:
                return
            fields = {name: value for _, name, value in pending}
            try:
                self.api.update(self.obj, row_pk, fields)
                outcomes.extend((c["id"], "PROCESSED", None) for c, _, _ in pending)
                if current is not None:
                    current.update(fields)
            except StagehouseError as exc:
                outcomes.extend((c["id"], "FAILED", str(exc)) for c, _, _ in pending)
            pending.clear()

        for change in changes:
            try:
                if not fetched:
                    current, fetched = self.api.get(self.obj, row_pk), True
                kind = change["type"]
                if kind == "u":
                    name = self.field_map.get(change["field"], change["field"])
                    new, old = json.loads(change["new_value"]), json.loads(change["old_value"])
                    if current is None:
                        pending.append((change, name, new))  # the app answers, e.g. HTTP 404, and that is the error
                    elif change["resumed"] and _same(current.get(name), new):
                        outcomes.append((change["id"], "PROCESSED", None))
                    elif not self.overwrite and not _same(current.get(name), old) and not any(n == name for _, n, _ in pending):
                        outcomes.append((change["id"], "CONFLICT", f"the app has {name} = {current.get(name)!r}, the edit saw {old!r}"))
                    else:
                        pending.append((change, name, new))
                    continue
                flush()
                if kind == "i":
                    if change["resumed"] and current is not None:
                        outcomes.append((change["id"], "PROCESSED", None))
                    else:
                        current = self.api.add(self.obj, self.app_record(json.loads(change["new_value"]), change["pk_field"]))
                        outcomes.append((change["id"], "PROCESSED", None))
                elif kind == "d":
                    existed = self.api.delete(self.obj, row_pk)
                    if existed or change["resumed"]:
                        outcomes.append((change["id"], "PROCESSED", None))
                    else:
                        outcomes.append((change["id"], "FAILED", f"{self.obj} {row_pk} does not exist in the app"))
                    current = None
            except StagehouseError as exc:
                outcomes.append((change["id"], "FAILED", str(exc)))
        flush()
        return outcomes


def push_changes(
    log: SqlConnection,
    table: str,
    api: RestConnection,
    obj: str,
    *,
    field_map: Mapping[str, str] | None = None,
    include_failed: bool = False,
    overwrite: bool = False,
    concurrency: int = 8,
) -> WritebackReport:
    """Send the NOT_PROCESSED (and, with ``include_failed``, FAILED) changes of ``table`` to
    ``api``'s object ``obj``; every change ends PROCESSED, FAILED or CONFLICT."""
    statuses = ["NOT_PROCESSED", "FAILED"] if include_failed else ["NOT_PROCESSED"]
    changes = log.change_log.claim(table, statuses)
    by_row: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        by_row[change["row_pk"]].append(change)
    pusher = _RowPusher(api, obj, field_map or {}, overwrite)
    rows = list(by_row.values())
    lookup = api.object(obj).batch_lookup
    if lookup is None:
        work, jobs = pusher.push, rows
    else:
        work, jobs = pusher.push_many, [rows[i : i + lookup.max_ids] for i in range(0, len(rows), lookup.max_ids)]
    report = WritebackReport()
    unmarked: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for outcomes in pool.map(work, jobs):
            unmarked.extend(outcomes)
            if len(unmarked) >= MARK_EVERY:
                log.change_log.set_status(unmarked)
                report.outcomes.extend(unmarked)
                unmarked = []
    log.change_log.set_status(unmarked)
    report.outcomes.extend(unmarked)
    return report
