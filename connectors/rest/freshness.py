"""Cheap change checks of a REST object: one request instead of fetching every page.

``answer`` asks the object's configured ``freshness`` request (a count or last-modified
endpoint) and returns its value. ``has_records_past`` asks the object's incremental filter with
the committed mark and a page of one record: is there any record whose cursor is past it? An API
whose filter is inclusive (``updated_at_gte``) answers with the records at the mark; then the
page's total (``total_path``/``total_header``) says whether there are more than the stage holds. When the answer cannot
tell, it says yes: a needless fetch, never a missed change.

Example::

    answer(client, "contacts", obj)                                         # 1234 (a count)
    has_records_past(client, "contacts", obj, CursorFilter("updated_at", mark))  # False
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.errors import SourceError
from stagehouse.connectors.json_path import dig
from stagehouse.connectors.rest.client import RestClient
from stagehouse.connectors.rest.config import RestObject
from stagehouse.connectors.rest.page import Page
from stagehouse.connectors.rest.pagination import paginator_for
from stagehouse.connectors.rest.records import to_table
from stagehouse.connectors.rest.text_types import timestamp_type


def param_value(value: Any) -> str:
    """A cursor value as a query parameter (dates and times in ISO 8601)."""
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def past(table: pa.Table, after: CursorFilter) -> pa.ChunkedArray:
    """Which rows of ``table`` have their cursor past ``after`` (a text column compares as ISO text)."""
    column = table.column(after.column)
    kind = timestamp_type(column) if pa.types.is_string(column.type) and isinstance(after.value, dt.datetime) else None
    if kind is not None:
        column = column.cast(kind)  # a mark kept as a timestamp: compare instants, not '…Z' with '…+00:00'
    value = param_value(after.value) if pa.types.is_string(column.type) else after.value
    scalar = pa.scalar(value).cast(column.type)
    return (pc.greater_equal if after.inclusive else pc.greater)(column, scalar)


def answer(client: RestClient, name: str, obj: RestObject) -> Any:
    """The value of ``obj``'s ``freshness`` request: a field of the body or a response header."""
    spec = obj.freshness
    assert spec is not None
    response = client.get(name, spec.path, dict(spec.params) or None)
    if spec.header is not None:
        value = response.headers.get(spec.header)
        where = f"header '{spec.header}'"
    else:
        value = dig(response.json(), spec.value)
        where = f"field '{spec.value}'"
    if value is None:
        problem = f"the freshness answer of {spec.path} has no {where}; fix freshness in the object's config"
        raise SourceError(client.name, f"object '{name}'", problem)
    return value


def has_records_past(client: RestClient, name: str, obj: RestObject, mark: CursorFilter, held: int = 0) -> bool:
    """Whether the API holds a record of ``obj`` whose cursor is past ``mark`` (strictly), or more
    records at it than the ``held`` the stage has (one saved in the mark's second after the last
    read): one request, ``incremental.param`` set to the mark, a page of one record where the
    pagination has a size parameter."""
    assert obj.incremental is not None
    paginator = paginator_for(obj.pagination)
    params = {**obj.params, obj.incremental.param: param_value(mark.value), **paginator.one_record_params()}
    page = Page.parse(client.get(name, obj.path, params))
    records = page.records_array(obj.records)
    if records is None:
        problem = f"the freshness check's answer has no record list at '{obj.records or '(body)'}'"
        raise SourceError(client.name, f"object '{name}'", problem)
    if not len(records):
        return False
    table = to_table(records, nested=obj.nested, lists=obj.lists)
    if mark.column not in table.column_names:
        return True  # cannot compare: fetch
    strict = CursorFilter(mark.column, mark.value, inclusive=False)
    if pc.any(past(table, strict)).as_py():
        return True
    # every record returned sits at the mark (an inclusive filter): are there more than the stage holds?
    total = paginator.record_total(page)
    if total is not None:
        return total > held
    return paginator.more_after_first(page, len(records))
