"""The verbs of a REST/SaaS object for writing back: add, update, upsert, delete, get, get_many,
findone, list, copy, rename, apicall — the seed platform's names, mapped to endpoints by the object's
configuration (``path``, ``item_path``, ``id_field``, ``update_method``).

Each verb is one HTTP call (two for ``upsert``/``copy``/``rename``) through the connection's
client, so retries, rate limit and auth apply; a failure raises ``RestError`` naming the
connection, object, method, URL and the app's message.

Example::

    crm = connect("crm")
    crm.add("contacts", {"id": 7, "email": "a@example.com"})
    crm.update("contacts", 7, {"email": "b@example.com"})
    crm.findone("contacts", searchfield="email", searchterm="b@example.com")
    crm.get_many("contacts", [7, 8])               # {'7': {...}, '8': {...}}
    crm.delete("contacts", 7)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connectors.rest.client import RestClient
from connectors.rest.config import RestObject

NOT_FOUND = frozenset({404, 410})


class ObjectVerbs:
    """Write and look-up verbs on configured objects (mixed into ``RestConnection``)."""

    client: RestClient
    object: Callable[[str], RestObject]

    def get(self, obj: str, object_id: Any) -> dict[str, Any] | None:
        """The record ``object_id`` of ``obj``, or None when the app has no such record."""
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

    def list(self, obj: str, **params: Any) -> list[dict[str, Any]]:
        """One page of ``obj``'s records, filtered by query ``params`` as the app understands them."""
        body = self.client.request("GET", obj, self.object(obj).path, params=params or None).json()
        records = self.object(obj).records
        for part in records.split(".") if records else []:
            body = body[part]
        return body

    def findone(self, obj: str, *, searchfield: str, searchterm: Any) -> dict[str, Any] | None:
        """The first record whose ``searchfield`` equals ``searchterm`` (filtered by the app), or None."""
        found = self.list(obj, **{searchfield: searchterm})
        return found[0] if found else None

    def add(self, obj: str, record: dict[str, Any]) -> dict[str, Any]:
        """Create a record (POST to the object's path); returns what the app stored."""
        return self.client.request("POST", obj, self.object(obj).path, body=record).json()

    def update(self, obj: str, object_id: Any, fields: dict[str, Any]) -> dict[str, Any]:
        """Change ``fields`` of record ``object_id`` (PATCH, or PUT when configured)."""
        config = self.object(obj)
        return self.client.request(config.update_method, obj, config.item_url(object_id), body=fields).json()

    def upsert(self, obj: str, record: dict[str, Any], *, searchfield: str, searchterm: Any) -> dict[str, Any]:
        """Update the record found by ``searchfield == searchterm``, or add ``record`` if none is."""
        found = self.findone(obj, searchfield=searchfield, searchterm=searchterm)
        if found is None:
            return self.add(obj, record)
        return self.update(obj, found[self.object(obj).id_field], record)

    def delete(self, obj: str, object_id: Any) -> bool:
        """Delete record ``object_id``; False when the app had no such record."""
        response = self.client.request("DELETE", obj, self.object(obj).item_url(object_id), allow_statuses=NOT_FOUND)
        return response.status_code not in NOT_FOUND

    def copy(self, obj: str, object_id: Any, changes: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new record from record ``object_id`` without its id, with ``changes`` applied."""
        source = self.get(obj, object_id)
        if source is None:
            raise KeyError(f"{obj} {object_id} does not exist")
        record = {k: v for k, v in source.items() if k != self.object(obj).id_field}
        return self.add(obj, {**record, **(changes or {})})

    def rename(self, obj: str, object_id: Any, new_name: str, *, name_field: str = "name") -> dict[str, Any]:
        """Set the name field of record ``object_id``."""
        return self.update(obj, object_id, {name_field: new_name})

    def apicall(self, path: str, method: str = "GET", body: Any = None, **params: Any) -> Any:
        """Any call the verbs don't cover; returns the parsed JSON body (None when empty)."""
        response = self.client.request(method.upper(), path, path, params=params or None, body=body)
        return response.json() if response.content else None
