"""Read REST/SaaS objects as a stream of Arrow record batches.

Each page becomes an Arrow table; the stream's schema is decided from the first
``schema_lookahead_pages`` pages (types promoted, e.g. int -> double; all-NULL columns become
text; ISO-8601 text becomes timestamps, ``connectors.rest.text_types``) and later pages are
conformed to it. A column first seen after the lookahead is an error
naming it, not a silent drop.

Example::

    crm = connect("crm")
    reader = crm.read("contacts")
    reader = crm.read("contacts", after=CursorFilter("updated_at", last_seen))  # since= + filter
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from stagehouse.connectors.base import Connection, ConnectionConfig
from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.errors import ConnectionConfigError, SourceError
from stagehouse.connectors.placeholders import expand
from stagehouse.connectors.rest.client import RestClient
from stagehouse.connectors.rest.config import RestConnectionConfig, RestObject
from stagehouse.connectors.rest.freshness import answer, has_records_past, param_value, past
from stagehouse.connectors.rest.page import Page, PageNotJson, SchemaHint
from stagehouse.connectors.rest.pagination import pages
from stagehouse.connectors.rest.records import conform, to_table, with_text_fields
from stagehouse.connectors.rest.text_types import decide, first_unparsed
from stagehouse.connectors.rest.verbs import ObjectVerbs
from stagehouse.connectors.sync_source import SyncRead, SyncRequest, SyncSource

SECRET_FIELDS = {"token", "password", "value"}  # the auth fields whose {$ENV} placeholders are expanded


class RestConnection(ObjectVerbs, SyncSource, Connection):
    """A REST API named in pipedag.yaml, with its objects (endpoints)."""

    config: RestConnectionConfig

    def __init__(self, name: str, config: RestConnectionConfig, secrets: dict[str, str]) -> None:
        super().__init__(name, config)
        self._secrets = secrets

    @classmethod
    def from_config(cls, name: str, config: ConnectionConfig, base_dir: Path) -> RestConnection:
        """Placeholders expanded in the URL, the headers and the auth's secret fields."""
        assert isinstance(config, RestConnectionConfig)  # the registry parsed it as this kind's
        auth = config.auth.model_dump() if config.auth else {}
        secrets = {key: expand(value) for key, value in auth.items() if key in SECRET_FIELDS}
        resolved = {
            "base_url": expand(config.base_url),
            "headers": {key: expand(value) for key, value in config.headers.items()},
        }
        return cls(name, config.model_copy(update=resolved), secrets)

    @cached_property
    def client(self) -> RestClient:
        return RestClient(self.name, self.config, self._secrets)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.__dict__.pop("client").close()

    def ping(self) -> None:
        """One GET, not retried, with the connection's auth: the first object's path and params
        (a status >= 400 fails), or base_url when no object is declared (only 401 and 403 fail:
        an API's root often answers 404)."""
        name, obj = next(iter(self.config.objects.items()), ("(base_url)", None))
        allowed = frozenset() if obj else frozenset(range(400, 600)) - {401, 403}
        path, params = (obj.path, dict(obj.params)) if obj else ("", None)
        self.client.request("GET", name, path, params=params, allow_statuses=allowed, attempts=1)

    def object(self, name: str) -> RestObject:
        """The configured object ``name``; an unknown one lists the known ones."""
        if name not in self.config.objects:
            known = ", ".join(self.config.objects) or "none"
            raise ConnectionConfigError(self.name, f"no object '{name}' under objects (known: {known})")
        return self.config.objects[name]

    def primary_key(self, name: str) -> list[str]:
        return list(self.object(name).primary_key or [])

    def freshness(self, name: str) -> Any:
        """The answer of object ``name``'s ``freshness`` request, or None when it has none."""
        obj = self.object(name)
        return None if obj.freshness is None else answer(self.client, name, obj)

    def has_records_past(self, name: str, mark: CursorFilter, held: int = 0) -> bool:
        """Whether object ``name`` has a record whose cursor is past ``mark``, or more at it than
        the ``held`` the stage has: one request with its ``incremental`` filter (see
        ``connectors.rest.freshness``)."""
        obj = self.object(name)
        if obj.incremental is None:
            problem = f"object '{name}' needs incremental: {{param: ...}} to ask for records past a mark"
            raise ConnectionConfigError(self.name, problem)
        return has_records_past(self.client, name, obj, mark, held)

    def sync_read(self, request: SyncRequest) -> SyncRead:
        """The object's records (past the mark for an incremental or merge sync); a field the
        committed table holds as text stays text (``request.kept_types``)."""
        name, after = request.object_name(), request.after
        reader: Any = partial(self.read, name, after=after, types=request.kept_types())
        if (
            after is not None
            and self.object(name).freshness is None
            and not self.has_records_past(name, CursorFilter(after.column, after.value), _held_at_mark(request))
        ):
            # a run with nothing past the mark keeps the committed load, so the next run's
            # freshness (that load's number) matches this one's: no rerun after a forced run
            reader = _nothing
        return SyncRead(
            reader,
            f"connection '{self.name}', object '{name}'",
            primary_key=request.key or self.primary_key(name) or None,
            fixed_columns=False,
        )

    def sync_freshness(self, request: SyncRequest) -> Any:
        """An API's change check, one request: the answer of the object's ``freshness`` request; else,
        for an incremental or merge sync of an object with an ``incremental`` filter, the load this
        run leaves committed — the committed one when no record is past its high-water mark, the
        next one otherwise — so an unchanged API keeps the sync and its downstream CACHE_VALID (the
        value equals what the last run computed before it loaded); else the time: always fetch.
        """
        name = request.object_name()
        configured = self.freshness(name)
        if configured is not None:
            return {"freshness": configured}
        if request.mode == "full" or not request.cursor or self.object(name).incremental is None:
            return {"fetched_at": time.time()}  # nothing cheap tells a change (nor a deletion): fetch
        previous = request.committed()
        if previous is None:
            return {"load": 1}
        changed = previous.mark is None or self.has_records_past(
            name, CursorFilter(request.cursor, previous.mark), previous.at_mark
        )
        return {"load": previous.load + int(changed)}

    def read(
        self,
        name: str,
        *,
        after: CursorFilter | None = None,
        params: dict[str, Any] | None = None,
        types: Mapping[str, str] | None = None,
    ) -> pa.RecordBatchReader:
        """Stream every record of object ``name``; ``after`` asks the API for newer records only.

        Text fields whose values are all ISO-8601 timestamps become timestamps
        (``connectors.rest.text_types``); ``types`` (field -> ``string``/``timestamp``) adds to the
        object's own ``types`` (which win), e.g. to keep a field text that an earlier load stored as text.
        """
        obj = self.object(name)
        query = {**obj.params, **(params or {})}
        if after is not None:
            if obj.incremental is None:
                problem = f"object '{name}' needs incremental: {{param: ...}} for an incremental sync"
                raise ConnectionConfigError(self.name, problem)
            query[obj.incremental.param] = param_value(after.value)
        hint = SchemaHint()
        fetched = pages(lambda url, p: self._page(name, url, p, hint), obj, query, self.config.concurrency)
        tables = self._page_tables(name, obj, fetched)
        head = list(itertools.islice(tables, self.config.schema_lookahead_pages))
        schema = _decided_schema([table for _, table in head])
        schema = decide([table for _, table in head], schema, {**(types or {}), **obj.types}, obj.detect_timestamps)

        def batches() -> Iterator[pa.RecordBatch]:
            for page, table in itertools.chain(head, tables):
                unknown = set(table.column_names) - set(schema.names)
                if unknown:
                    raise SourceError(
                        self.name,
                        f"object '{name}'",
                        f"page {page + 1} brings new field(s) {sorted(unknown)} not in the first "
                        f"{self.config.schema_lookahead_pages} pages; raise schema_lookahead_pages",
                    )
                try:
                    table = conform(table, schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    problem = f"page {page + 1}: {_unparsed(table, schema) or exc}"
                    raise SourceError(self.name, f"object '{name}'", problem) from exc
                if after is not None:
                    table = table.filter(past(table, after))
                yield from table.to_batches(max_chunksize=self.config.batch_rows)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _page(self, name: str, url: str, params: dict[str, Any] | None, hint: SchemaHint) -> Page:
        response = self.client.get(name, url, params)
        return Page.parse(response, hint, url=self.client.display(response.request.url))

    def _page_tables(self, name: str, obj: RestObject, fetched: Iterator[Page]) -> Iterator[tuple[int, pa.Table]]:
        text_fields = [field for field, kind in obj.types.items() if kind == "string"]
        for page, parsed in _numbered_pages(self.name, name, fetched):
            records = with_text_fields(parsed.records_array(obj.records), text_fields)
            if records is None:
                problem = f"page {page + 1} has no record list at '{obj.records or '(body)'}'"
                raise SourceError(self.name, f"object '{name}'", problem)
            if len(records):
                try:
                    yield page, to_table(records, nested=obj.nested, lists=obj.lists)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    problem = f"page {page + 1}: {_mixed_field(records) or f'records of mixed types ({exc})'}"
                    raise SourceError(self.name, f"object '{name}'", problem) from exc


JSON_KINDS = ((bool, "true/false"), ((int, float), "a number"), (str, "text"), (dict, "an object"), (list, "a list"))


def _json_kind(value: Any) -> str:
    return next(kind for types, kind in JSON_KINDS if isinstance(value, types))


def _mixed_field(records: Any) -> str | None:
    """The first field whose value is of another JSON kind than in the records before it:
    ``record 3, field 'score': 'abc' is text where record 1 has a number; …``."""
    if isinstance(records, pa.Array):
        records = records.to_pylist()
    first: dict[str, tuple[int, str]] = {}
    for number, record in enumerate(records, start=1):
        for field, value in (record or {}).items() if isinstance(record, dict) else ():
            if value is None:
                continue
            kind = _json_kind(value)
            seen = first.setdefault(field, (number, kind))
            if seen[1] != kind:
                return (
                    f"record {number}, field '{field}': {value!r} is {kind} where record {seen[0]} has {seen[1]}; "
                    f"fix the record in the app, or declare types: {{{field}: string}} on the object to read it as text"
                )
    return None


def _nothing() -> pa.RecordBatchReader:
    """A stream with no columns: the load keeps the committed one (``tasks.versioned.apply_load``)."""
    return pa.RecordBatchReader.from_batches(pa.schema([]), iter([]))


def _unparsed(table: pa.Table, schema: pa.Schema) -> str | None:
    """Which text field of ``table`` failed to become a timestamp of ``schema``, and its value."""
    for field in schema:
        is_text = field.name in table.column_names and pa.types.is_string(table.column(field.name).type)
        if pa.types.is_timestamp(field.type) and is_text:
            value = first_unparsed(table.column(field.name), field.type)
            if value is not None:
                zone = "with a UTC offset or Z" if field.type.tz else "without an offset"
                zone += ", as the first pages had"
                return (
                    f"field '{field.name}' was typed a timestamp {zone}, but has {value!r}; "
                    f"set types: {{{field.name}: string}} on the object to keep it text"
                )
    return None


def _numbered_pages(connection: str, name: str, fetched: Iterator[Page]) -> Iterator[tuple[int, Page]]:
    """``fetched`` with page indexes; a page that is not JSON fails naming its number and URL
    (pages arrive in order, so the one that failed is the next)."""
    page = 0
    while True:
        try:
            parsed = next(fetched)
        except StopIteration:
            return
        except PageNotJson as exc:
            raise SourceError(connection, f"object '{name}'", f"page {page + 1}, GET {exc.url}: {exc.problem}") from exc
        yield page, parsed
        page += 1


def _decided_schema(tables: list[pa.Table]) -> pa.Schema:
    if not tables:
        return pa.schema([])
    schema = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def _held_at_mark(request: SyncRequest) -> int:
    """The rows the stage holds at its mark (0 before the first load)."""
    committed = request.committed()
    return 0 if committed is None else committed.at_mark
