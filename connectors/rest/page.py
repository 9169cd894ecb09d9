"""One fetched page: its JSON parsed by Arrow's C++ reader, with a Python fallback.

Arrow parses the body without holding the GIL, so pages fetched on worker threads are parsed in
parallel and the records arrive as Arrow data with no Python object per value. A body Arrow
cannot read (values of mixed types inside one field, say) is parsed by ``json`` instead, at
once; a body neither can read raises ``PageNotJson`` with the line, column and text around it.

Example::

    page = Page.parse(response)
    page.get("meta.total")          # 200000
    page.records("data")            # pyarrow.Table of the page's records
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.json as pajson

from stagehouse.connectors.json_path import arrow_array_step, arrow_scalar_step, dig

PARSE_OPTIONS = pajson.ParseOptions(newlines_in_values=True)


class PageNotJson(ValueError):
    """A page's body is not valid JSON; ``problem`` says where (line, column, the text there)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{url}: {problem}")
        self.url, self.problem = url, problem

    def __reduce__(self):
        """Pickle as its fields: the parse may run in another process than the read."""
        return PageNotJson, (self.url, self.problem)


def _not_json(url: str, content: bytes, exc: ValueError) -> PageNotJson:
    if not isinstance(exc, json.JSONDecodeError):
        return PageNotJson(url, f"the body is not valid JSON ({exc})")
    around = " ".join(exc.doc[max(0, exc.pos - 30) : exc.pos + 30].split())
    where = f"line {exc.lineno}, column {exc.colno}, near {around!r}"
    return PageNotJson(url, f"the body ({len(content):,} bytes) is not valid JSON: {exc.msg} at {where}")


class SchemaHint:
    """The parsed schema of a read's last page, shared by its fetching threads."""

    schema: pa.Schema | None = None


def _read(data: bytes, schema: pa.Schema | None) -> pa.Table | None:
    options = PARSE_OPTIONS if schema is None else pajson.ParseOptions(newlines_in_values=True, explicit_schema=schema)
    try:
        return pajson.read_json(io.BytesIO(data), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _has_timestamp(kind: pa.DataType) -> bool:
    if pa.types.is_timestamp(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_has_timestamp(field.type) for field in kind)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _has_timestamp(kind.value_type)
    return False


def _timestamps_as_text(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind):
        return pa.string()
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_timestamps_as_text(field.type)) for field in kind])
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_timestamps_as_text(kind.value_type)))
    if pa.types.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(_timestamps_as_text(kind.value_type)))
    return kind


class Page:
    """A response and its body; ``get`` reads one field, ``records`` the record list as a table."""

    def __init__(
        self, response: httpx.Response, arrow_body: pa.StructScalar | None, arrow_column: pa.StructArray | None
    ) -> None:
        self.response = response
        self._scalar = arrow_body
        self._column = arrow_column
        self._python: Any = None

    @classmethod
    def parse(cls, response: httpx.Response, hint: SchemaHint | None = None, url: str | None = None) -> Page:
        """Parse ``response``; strings stay strings (Arrow would infer ``timestamp[s]`` from
        ISO-8601 text and drop its offset: ``connectors.rest.text_types`` types them instead).
        ``hint`` carries the schema of the read's earlier pages, so the next one is parsed
        without inferring its types again. A body that is not JSON raises PageNotJson
        naming ``url`` (the request's URL as it may be shown: secrets masked)."""
        data = b'{"body":' + response.content + b"}"
        wrapped = None
        known = hint.schema if hint is not None else None
        if known is not None:
            wrapped = _read(data, known)
        if wrapped is None:
            wrapped = _read(data, None)
        if wrapped is None:
            return cls._parsed_by_python(response, url)
        if any(_has_timestamp(field.type) for field in wrapped.schema):
            known = pa.schema([field.with_type(_timestamps_as_text(field.type)) for field in wrapped.schema])
            wrapped = _read(data, known)
            if wrapped is None:
                return cls._parsed_by_python(response, url)
        if hint is not None:
            hint.schema = wrapped.schema
        column = wrapped.column("body").combine_chunks()
        return cls(response, column[0], column)

    @classmethod
    def _parsed_by_python(cls, response: httpx.Response, url: str | None) -> Page:
        page = cls(response, None, None)
        try:
            page._python = response.json()
        except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
            raise _not_json(url or str(response.request.url), response.content, exc) from exc
        return page

    @property
    def body(self) -> Any:
        """The body as Python objects (parsed on first use)."""
        if self._python is None:
            self._python = self.response.json()
        return self._python

    def get(self, path: str | None) -> Any:
        """The value at dotted ``path`` as a Python value; None if any step is missing
        (``connectors.json_path``)."""
        if self._scalar is None or not path:
            return dig(self.body, path)
        value = dig(self._scalar, path, arrow_scalar_step)
        return None if value is None else value.as_py()

    def record_count(self, path: str | None) -> int:
        records = self.records_array(path)
        return 0 if records is None else len(records)

    def records_array(self, path: str | None) -> pa.Array | list | None:
        """The record list at ``path``: an Arrow array when Arrow parsed the body, else a list."""
        if self._column is None:
            value = dig(self.body, path)
            return value if isinstance(value, list) else None
        array = dig(self._column, path, arrow_array_step)
        if array is None or not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            return None
        return array.flatten()
