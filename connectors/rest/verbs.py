"""The verbs of a REST/SaaS object for writing back: add, update, upsert, delete, get, get_many,
findone, list, copy, rename, apicall — the names of Peliqan's ``pq`` module, mapped to endpoints
by the object's configuration (``path``, ``item_path``, ``id_field``, ``update_method``).

Each verb is one HTTP call (two for ``upsert``/``copy``/``rename``) through the connection's
client, so retries, rate limit and auth apply; a failure raises ``RestError`` naming the
connection, object, method, URL and the app's message. Scripts written for Peliqan's ``pq``
module run as they are: its call forms (``get(obj, id=1)``, ``add(obj, **record)``,
``update(obj, record)`` with the id inside the record, ``rename(obj, id=1, name=...)``) are
accepted beside ours; a call with no id, or two that differ, raises ``RestCallError``.

Example::

    crm = connect("crm")
    crm.add("contacts", {"id": 7, "email": "a@example.com"})      # or crm.add("contacts", id=7, email=...)
    crm.update("contacts", 7, {"email": "b@example.com"})          # or crm.update("contacts", {"id": 7, "email": ...})
    crm.findone("contacts", searchfield="email", searchterm="b@example.com")
    crm.get_many("contacts", [7, 8])               # {'7': {...}, '8': {...}}
    crm.delete("contacts", 7)                      # or crm.delete("contacts", id=7)
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stagehouse.connectors.errors import RestCallError, SourceError
from stagehouse.connectors.json_path import dig
from stagehouse.connectors.rest.client import RestClient
from stagehouse.connectors.rest.config import RestObject

NOT_FOUND = frozenset({404, 410})


class ObjectVerbs:
    """Write and look-up verbs on configured objects (mixed into ``RestConnection``)."""

    name: str

    if TYPE_CHECKING:

        @property
        def client(self) -> RestClient: ...  # the connection's (a cached_property there)

    object: Callable[[str], RestObject]

    def get(self, obj: str, object_id: Any = None, /, *, id: Any = None) -> dict[str, Any] | None:
        """The record ``object_id`` (or ``id=``) of ``obj``, or None when the app has no such record."""
        object_id = self._one_id(obj, "get", object_id, id)
        response = self.client.request("GET", obj, self.object(obj).item_url(object_id), allow_statuses=NOT_FOUND)
        return None if response.status_code in NOT_FOUND else response.json()

    def get_many(self, obj: str, object_ids: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """The records of ``object_ids`` that exist, by id as text: one request per
        ``batch_lookup.max_ids`` ids when the object declares ``batch_lookup``, else one GET each."""
        config = self.object(obj)
        lookup = config.batch_lookup
        if lookup is None:
            found = ((object_id, self.get(obj, object_id)) for object_id in object_ids)
            return {str(object_id): record for object_id, record in found if record is not None}
        records: dict[str, dict[str, Any]] = {}
        for start in range(0, len(object_ids), lookup.max_ids):
            ids = [str(i) for i in object_ids[start : start + lookup.max_ids]]
            params = {lookup.param: ids if lookup.style == "repeat" else ",".join(ids)}
            records.update((str(r[config.id_field]), r) for r in self.list(obj, **params))
        return records

    def list(self, obj: str, **params: Any) -> builtins.list[dict[str, Any]]:
        """One page of ``obj``'s records, filtered by query ``params`` as the app understands them."""
        config = self.object(obj)
        records = dig(self.client.request("GET", obj, config.path, params=params or None).json(), config.records)
        if records is None:
            problem = f"the answer of GET {config.path} has no record list at '{config.records or '(body)'}'"
            raise SourceError(self.name, f"object '{obj}'", f"{problem}; fix records in the object's config")
        return records

    def findone(self, obj: str, *, searchfield: str, searchterm: Any) -> dict[str, Any] | None:
        """The first record whose ``searchfield`` equals ``searchterm`` (filtered by the app), or None."""
        found = self.list(obj, **{searchfield: searchterm})
        return found[0] if found else None

    def add(self, obj: str, record: Mapping[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
        """Create ``record`` (or the record ``fields``, Peliqan's ``add(obj, **record)``) by a POST
        to the object's path; returns what the app stored."""
        body = {**(record or {}), **fields}
        if not body:
            forms = f"add('{obj}', {{...}}) or add('{obj}', field=value, ...)"
            raise RestCallError(self.name, obj, f"add needs a record: {forms}")
        return self.client.request("POST", obj, self.object(obj).path, body=body).json()

    def update(
        self, obj: str, object_id: Any = None, fields: Mapping[str, Any] | None = None, /, **record: Any
    ) -> dict[str, Any]:
        """Change ``fields`` of record ``object_id`` (PATCH, or PUT when configured). Peliqan's
        forms ``update(obj, record)`` and ``update(obj, **record)`` carry the id in the record
        (its ``id_field``); it is sent in the URL, not the body."""
        config = self.object(obj)
        if isinstance(object_id, Mapping) and fields is None:
            object_id, fields = None, object_id
        body = {**(fields or {}), **record}
        in_record = body.pop(config.id_field, None)
        object_id = self._one_id(obj, "update", object_id, in_record, f"'{config.id_field}' in the record")
        return self.client.request(config.update_method, obj, config.item_url(object_id), body=body).json()

    def upsert(self, obj: str, record: dict[str, Any], *, searchfield: str, searchterm: Any) -> dict[str, Any]:
        """Update the record found by ``searchfield == searchterm``, or add ``record`` if none is."""
        found = self.findone(obj, searchfield=searchfield, searchterm=searchterm)
        if found is None:
            return self.add(obj, record)
        return self.update(obj, found[self.object(obj).id_field], record)

    def delete(self, obj: str, object_id: Any = None, /, *, id: Any = None) -> bool:
        """Delete record ``object_id`` (or ``id=``); False when the app had no such record."""
        object_id = self._one_id(obj, "delete", object_id, id)
        response = self.client.request("DELETE", obj, self.object(obj).item_url(object_id), allow_statuses=NOT_FOUND)
        return response.status_code not in NOT_FOUND

    def copy(
        self,
        obj: str,
        object_id: Any = None,
        changes: Mapping[str, Any] | None = None,
        /,
        *,
        id: Any = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A new record from record ``object_id`` (or ``id=``) without its id, with ``changes``
        (or keyword ``fields``, e.g. ``copy(obj, id=1, name="Copy")``) applied."""
        object_id = self._one_id(obj, "copy", object_id, id)
        source = self.get(obj, object_id)
        if source is None:
            raise RestCallError(self.name, obj, f"copy: there is no record {object_id!r} to copy")
        record = {k: v for k, v in source.items() if k != self.object(obj).id_field}
        return self.add(obj, {**record, **(changes or {}), **fields})

    def rename(
        self,
        obj: str,
        object_id: Any = None,
        new_name: str | None = None,
        /,
        *,
        id: Any = None,
        name: str | None = None,
        name_field: str = "name",
    ) -> dict[str, Any]:
        """Set the name field of record ``object_id`` (or ``id=``) to ``new_name`` (or ``name=``)."""
        object_id = self._one_id(obj, "rename", object_id, id)
        new_name = self._one(obj, "rename", "new name", new_name, name, "name=")
        return self.update(obj, object_id, {name_field: new_name})

    def apicall(self, path: str, method: str = "GET", body: Any = None, **params: Any) -> Any:
        """Any call the verbs don't cover; returns the parsed JSON body (None when empty)."""
        response = self.client.request(method.upper(), path, path, params=params or None, body=body)
        return response.json() if response.content else None

    def _one_id(self, obj: str, verb: str, positional: Any, keyword: Any, keyword_form: str = "id=") -> Any:
        """The record id given by position or by ``keyword_form``: one of them, or both alike."""
        return self._one(obj, verb, "id", positional, keyword, keyword_form)

    def _one(self, obj: str, verb: str, what: str, positional: Any, keyword: Any, keyword_form: str) -> Any:
        if positional is None and keyword is None:
            problem = f"{verb} needs the record's {what}: pass it after the object name or as {keyword_form}"
            raise RestCallError(self.name, obj, problem)
        if positional is not None and keyword is not None and str(positional) != str(keyword):
            problem = f"{verb} got two {what}s, {positional!r} and {keyword!r} ({keyword_form}); pass one"
            raise RestCallError(self.name, obj, problem)
        return positional if positional is not None else keyword
