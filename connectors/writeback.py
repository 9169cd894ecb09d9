"""Push the change log's edits of one table back to the app they came from, exactly once.

First, edits written back earlier that the synced table now confirms stop being layered on reads
(``ChangeVerbs.retire_confirmed``). Then per change: claimed (PROCESSING, committed before any
request), judged against the app's current record, sent, and marked PROCESSED, FAILED (with the
app's message) or CONFLICT; outcomes are written as they arrive. A change the app already
reflects — it holds the new value of the edit or of a later edit of the same cell, has the
inserted record, lacks the deleted one — is PROCESSED without a request, so a writeback killed
at any point and resumed, or a change resent with ``update_change``, never sends twice.

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

import datetime as dt
import difflib
import json
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stagehouse.connectors.errors import ConnectionConfigError, StagehouseError, WarehouseError
from stagehouse.connectors.rest.source import RestConnection
from stagehouse.connectors.sql.store import StoreConnection

Outcome = tuple[int, str, str | None]
RECORD_EVERY = 0.1


@dataclass
class WritebackReport:
    """How many changes ended in each status, and the outcome of each change."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(status for _, status, _ in self.outcomes))


def _instant(value: Any) -> dt.datetime | None:
    """A datetime or ISO text as an aware instant (naive read as UTC); None for anything else."""
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _same(a: Any, b: Any) -> bool:
    """Equal as the app would show them (5 == 5.0 == "5"; '2024-01-01T00:00:00Z' == the store's
    '2024-01-01 00:00:00'; None only equals None)."""
    if a is None or b is None:
        return a is b
    if a == b or str(a) == str(b):
        return True
    instant = _instant(a)
    return instant is not None and instant == _instant(b)


def _cell_chains(changes: list[dict[str, Any]]) -> list[list[Any]]:
    """For each change of one row, the new values of it and of the later edits of the same cell
    (up to the row's next insert or delete): the values that mean "this edit reached the app"."""
    chains: list[list[Any]] = [[] for _ in changes]
    later: dict[str, list[Any]] = {}
    for index in range(len(changes) - 1, -1, -1):
        change = changes[index]
        if change["type"] != "u":
            later = {}
            continue
        chain = later.setdefault(change["field"], [])
        chain.append(json.loads(change["new_value"]))
        chains[index] = list(chain)
    return chains


class _RowPusher:
    """Applies the changes of one row, in order, to one app object.

    Each change is judged against the app's current record first: a change the app already
    reflects — it holds the new value of this edit or of a later edit of the same cell, has the
    inserted record, lacks the deleted one — is PROCESSED without a request, whether it is resumed
    after a kill or resent with ``update_change``. So no request is sent twice.
    """

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
        return [
            outcome
            for changes in rows
            for outcome in self.push(changes, current.get(changes[0]["row_pk"]), fetched=True)
        ]

    def push(
        self, changes: list[dict[str, Any]], current: dict[str, Any] | None = None, *, fetched: bool = False
    ) -> list[Outcome]:
        """Push one row's changes; ``current`` is its app record when already ``fetched``."""
        outcomes: list[Outcome] = []
        row_pk = changes[0]["row_pk"]
        pending: list[tuple[dict[str, Any], str, Any]] = []
        chains = _cell_chains(changes)

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

        for change, chain in zip(changes, chains, strict=True):
            try:
                if not fetched:
                    current, fetched = self.api.get(self.obj, row_pk), True
                kind = change["type"]
                if kind == "u":
                    name = self.field_map.get(change["field"], change["field"])
                    new, old = json.loads(change["new_value"]), json.loads(change["old_value"])
                    sending = any(n == name for _, n, _ in pending)
                    if current is None:
                        pending.append((change, name, new))  # the app answers, e.g. HTTP 404, and that is the error
                    elif not sending and any(_same(current.get(name), value) for value in chain):
                        outcomes.append((change["id"], "PROCESSED", None))
                    elif not self.overwrite and not sending and not _same(current.get(name), old):
                        outcomes.append(
                            (
                                change["id"],
                                "CONFLICT",
                                f"the app has {name} = {current.get(name)!r}, the edit saw {old!r}",
                            )
                        )
                    else:
                        pending.append((change, name, new))
                    continue
                flush()
                if kind == "i":
                    outcome, current = self._insert(change, current)
                    outcomes.append(outcome)
                elif kind == "d":
                    if current is not None:
                        self.api.delete(self.obj, row_pk)  # False (404) when it vanished meanwhile: gone all the same
                    outcomes.append((change["id"], "PROCESSED", None))
                    current = None
            except StagehouseError as exc:
                outcomes.append((change["id"], "FAILED", str(exc)))
        flush()
        return outcomes

    def _insert(self, change: dict[str, Any], current: dict[str, Any] | None) -> tuple[Outcome, dict[str, Any] | None]:
        """Add the inserted record unless the app has it: resumed, or holding the same values, it
        is done; holding other values it is a CONFLICT (``overwrite`` updates it instead)."""
        record = self.app_record(json.loads(change["new_value"]), change["pk_field"])
        if current is None:
            return (change["id"], "PROCESSED", None), self.api.add(self.obj, record)
        differing = {k: v for k, v in record.items() if k != self.id_field and not _same(current.get(k), v)}
        if change["resumed"] or not differing:
            return (change["id"], "PROCESSED", None), current
        if self.overwrite:
            return (change["id"], "PROCESSED", None), {
                **current,
                **self.api.update(self.obj, change["row_pk"], differing),
            }
        shown = ", ".join(f"{k} = {current.get(k)!r}" for k in differing)
        return (change["id"], "CONFLICT", f"the app already has {self.obj} {change['row_pk']} with {shown}"), current


class _OutcomeRecorder:
    """Writes outcomes to the change log as they arrive, every outcome that arrived in one
    statement, at most one statement per ``RECORD_EVERY`` seconds: a kill loses only the outcomes
    of requests in flight or finished within that moment (the next writeback finds them in the app
    and sends nothing again), and statuses cost a store a few statements per second, not one each.
    """

    def __init__(self, log: StoreConnection) -> None:
        self.log = log
        self.queue: queue.SimpleQueue[list[Outcome] | None] = queue.SimpleQueue()
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._record, name="writeback-statuses", daemon=True)
        self.thread.start()

    def add(self, outcomes: list[Outcome]) -> None:
        self.queue.put(outcomes)

    def close(self) -> None:
        """Wait until every outcome is written; re-raise the error that stopped the writer."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _record(self) -> None:
        done = False
        while not done:
            batch: list[Outcome] = []
            item = self.queue.get()
            while item is not None:
                batch.extend(item)
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            done = item is None
            if batch and self.error is None:
                try:
                    self.log.change_log.set_status(batch)
                except Exception as exc:  # surfaced by close(); the app is checked again on resume
                    self.error = exc
            if not done:
                time.sleep(RECORD_EVERY)


def push_changes(
    log: StoreConnection,
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
    _check_target(log, table, api, obj, field_map or {})
    log.retire_confirmed(table)
    changes = log.claim_for_writeback(table, statuses)
    by_row: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        by_row[change["row_pk"]].append(change)
    pusher = _RowPusher(api, obj, field_map or {}, overwrite)
    rows = list(by_row.values())
    lookup = api.object(obj).batch_lookup
    work: Callable[[Any], list[Outcome]]
    jobs: list[Any]
    if lookup is None:
        work, jobs = pusher.push, rows
    else:
        work, jobs = pusher.push_many, [rows[i : i + lookup.max_ids] for i in range(0, len(rows), lookup.max_ids)]
    report = WritebackReport()
    recorder = _OutcomeRecorder(log)

    def work_and_record(job: Any) -> list[Outcome]:
        outcomes = work(job)
        recorder.add(outcomes)
        return outcomes

    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for outcomes in pool.map(work_and_record, jobs):
                report.outcomes.extend(outcomes)
    finally:
        recorder.close()
    return report


def _check_target(log: StoreConnection, table: str, api: Any, obj: str, field_map: Mapping[str, str]) -> None:
    """Refuse, before any change is claimed, a writeback that could not send them: to a connection
    that is not an app's API, of a table the store does not hold, to an object the connection does
    not declare, or with a ``field_map`` naming a column the table lacks."""
    if not isinstance(api, RestConnection):
        kind = getattr(getattr(api, "config", None), "type", type(api).__name__)
        raise ConnectionConfigError(
            getattr(api, "name", "?"),
            f"writeback sends edits to an app's API, a type: rest connection, not a {kind} one; name the app's "
            "REST connection (a database takes the table with replicate)",
        )
    schema, _, name = table.rpartition(".")
    columns = log.table(schema or None, name).c  # WarehouseError naming a table the store lacks
    api.object(obj)  # ConnectionConfigError naming an object the connection lacks
    if unknown := [column for column in field_map if column not in columns]:
        close = difflib.get_close_matches(unknown[0], list(columns.keys()), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise WarehouseError(log.name, f"table '{table}'", f"field_map names no column '{unknown[0]}'{hint}")
