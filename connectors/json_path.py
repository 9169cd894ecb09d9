"""Dotted paths into an API's JSON answer: ``meta.total``, ``links.next``, ``data.0.updated_at``.

Records, totals, cursors, next links and freshness values are all read through ``dig``, so a
path means the same everywhere, whether the body was parsed to Python objects or to Arrow data:
a name steps into an object, a number into a list, and a step that is not there (a missing key,
a null, an index past the end, a name on a list) gives None instead of raising.

Example::

    >>> dig({"meta": {"total": 3}}, "meta.total")
    3
    >>> dig({"data": [{"id": 7}]}, "data.0.id")
    7
    >>> dig({"meta": None}, "meta.total") is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MISSING: Any = object()  # a step that is not there; ``dig`` turns it into None


def steps(path: str | None) -> list[str]:
    """The steps of ``path``; none for an empty path (the whole body)."""
    return path.split(".") if path else []


def dig(value: Any, path: str | None, step: Callable[[Any, str], Any] | None = None) -> Any:
    """The value at dotted ``path`` inside ``value``, or None when a step is not there.
    ``step`` takes one step (Python objects by default; ``arrow_scalar_step``, ``arrow_array_step``)."""
    take = step or python_step
    for name in steps(path):
        value = take(value, name)
        if value is MISSING:
            return None
    return value


def _index(name: str, length: int) -> int | None:
    return int(name) if name.isdigit() and int(name) < length else None


def python_step(value: Any, name: str) -> Any:
    """One step into parsed JSON: a key of a dict, or an index of a list."""
    if isinstance(value, dict):
        return value.get(name, MISSING)
    if isinstance(value, list) and (index := _index(name, len(value))) is not None:
        return value[index]
    return MISSING


def arrow_scalar_step(value: Any, name: str) -> Any:
    """One step into an Arrow scalar: a field of a struct, or an element of a list."""
    if not isinstance(value, pa.Scalar) or not value.is_valid:
        return MISSING
    if isinstance(value, pa.StructScalar):
        return value[name] if value.type.get_field_index(name) >= 0 else MISSING
    if isinstance(value, pa.ListScalar) and (index := _index(name, len(value))) is not None:
        return value[index]
    return MISSING


def arrow_array_step(array: Any, name: str) -> Any:
    """One step into a one-row Arrow array (a parsed body): a struct field, or a list element."""
    if pa.types.is_struct(array.type):
        return array.field(name) if array.type.get_field_index(name) >= 0 else MISSING
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        length = pc.list_value_length(array)[0].as_py() or 0
        if (index := _index(name, length)) is not None:
            return pc.list_element(array, index)
    return MISSING
