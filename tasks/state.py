"""State that a user task keeps across runs, committed with the stage like its data.

``@stateful`` is ``@materialize`` plus a small state table ``<task>__state`` that the task
returns beside its own output. Because the state is an output of the same task in the same
stage, it commits in the same schema swap as the data: a run that fails (or is killed) leaves
both the data and the state of the last committed run, and a cache-valid run carries both
forward. Downstream tasks see only the task's own output.

Example::

    @stateful(version="1")
    def events():
        since = get_state().get("cursor", 0)
        rows = fetch_events(after=since)
        set_state({"cursor": int(rows["id"].max()) if len(rows) else since})
        return Table(rows, "events")
"""

from __future__ import annotations

import contextvars
import functools
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydiverse.pipedag import Table, materialize
from pydiverse.pipedag.context import TaskContext

from stagehouse.tasks.errors import TaskDefinitionError
from stagehouse.tasks.incremental import committed_record

STATE_SUFFIX = "__state"
_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("stagehouse_state", default=None)


def _box() -> dict[str, Any]:
    box = _current.get()
    if box is None:
        raise TaskDefinitionError("get_state()/set_state() work only inside a task decorated with @stateful")
    return box


def get_state() -> dict[str, Any]:
    """The state the task set in the last committed run ({} on the first run)."""
    return dict(_box()["value"])


def set_state(value: dict[str, Any]) -> None:
    """The state to commit with this run's output (JSON-serialisable)."""
    try:
        json.dumps(value)
    except TypeError as exc:
        raise TaskDefinitionError(f"set_state() takes JSON values: {exc}") from exc
    _box()["value"] = dict(value)


def _committed_state(state_table: str) -> dict[str, Any]:
    record = committed_record(TaskContext.get().task._stage.name, state_table)
    text = record[1].get("state") if record else None
    return json.loads(text) if text else {}


def stateful(fn: Callable | None = None, **materialize_args: Any):
    """Decorate a task like ``@materialize``; inside it, ``get_state`` and ``set_state`` work."""
    if fn is None:
        return functools.partial(stateful, **materialize_args)
    if materialize_args.get("nout", 1) != 1:
        raise TaskDefinitionError("@stateful tasks return one output (a Table, or a tuple/dict of them)")
    state_table = f"{fn.__name__.lower()}{STATE_SUFFIX}"

    @functools.wraps(fn)
    def run(*args, **kwargs):
        token = _current.set({"value": _committed_state(state_table)})
        try:
            result = fn(*args, **kwargs)
            state = _current.get()["value"]
        finally:
            _current.reset(token)
        return result, Table(pd.DataFrame({"state": [json.dumps(state)]}), state_table)

    task = materialize(run, nout=2, **materialize_args)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        return task(*args, **kwargs)[0]

    call.__dict__["task"] = task  # the pipedag task itself, as an attribute of the call
    return call
