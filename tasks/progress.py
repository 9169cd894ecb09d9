"""Progress of long-running work, reported to whoever listens (``stagehouse run`` shows it with rich).

Tasks call ``report`` per Arrow batch; the runner calls ``started`` and ``finished`` as pipedag
runs each task (``flows.timing``), so a listener can show elapsed time for work that counts no
rows while it runs (a DuckDB store's in-place copy, a PostgreSQL binary COPY, a SQL transform).
A listener is a callable taking ``(task_name, rows_so_far)``; it may also have ``started(task)``
and ``finished(task)`` methods. Writers name the task with ``task_name`` (``sync_orders``, not
the table's label ``orders``), so rows and start/finish events meet under one name. With no
listener, reporting costs one list check per batch.

Example::

    with listening(lambda task, rows: print(task, rows)):
        flow.run()
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, int], None]
_listeners: list[Listener] = []


def report(task: str, rows: int) -> None:
    """Tell listeners that ``task`` has moved ``rows`` rows so far."""
    for listener in _listeners:
        listener(task, rows)


def started(task: str) -> None:
    """Tell listeners that ``task`` started running (not called for cache-valid tasks)."""
    _event("started", task)


def finished(task: str) -> None:
    """Tell listeners that ``task`` finished (its outputs are written)."""
    _event("finished", task)


def _event(kind: str, task: str) -> None:
    for listener in _listeners:
        method = getattr(listener, kind, None)
        if method is not None:
            method(task)


def task_name(label: str) -> str:
    """The name of the pipedag task running in this thread (``sync_orders``), else ``label``.

    Call it where the task runs, not where the rows are counted: a database that consumes an
    Arrow stream (DuckDB) pulls the batches on threads of its own, which know no task.
    """
    from pydiverse.pipedag.context import TaskContext

    try:
        return TaskContext.get().task._name
    except (LookupError, AttributeError):  # outside a task
        return label


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Register ``listener`` for the duration of the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
