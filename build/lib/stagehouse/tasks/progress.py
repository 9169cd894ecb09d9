"""Progress of long-running work, reported to whoever listens (the CLI shows it with rich).

Tasks call ``report``; a listener is any callable taking ``(task_name, rows_so_far)``. With no
listener, reporting costs one attribute lookup per Arrow batch.

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


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Register ``listener`` for the duration of the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
