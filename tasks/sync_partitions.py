"""Which syncs of a flow ask ``partitions=`` of a connection kind that has no key ranges.

Only SQL sources are read in partitions (``SyncSource.partitionable``); a file set or a REST
object is one stream. The declaration that says a connection's kind is the instance's, so this
is checked where it is known before anything runs: ``stagehouse check`` and the runner, next to
the undeclared-connection check. A file glob is refused by ``sync()`` itself, at build time.

Example::

    unpartitionable(flow.tasks, {"drops": {"type": "files", "path": "drops"}})
    # [Unpartitionable(task='sync_rates', connection='drops', kind='files', partitions=4)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stagehouse.connectors.registry import KINDS, connection_class
from stagehouse.connectors.sync_source import SyncSource
from stagehouse.tasks.errors import TaskDefinitionError
from stagehouse.tasks.sync import sync_source

FIX = "drop partitions= (and partition_by=) from the sync: only SQL sources are read in key ranges"


@dataclass(frozen=True)
class Unpartitionable:
    """A sync with ``partitions=K`` whose connection is of a kind read as one stream."""

    task: str
    connection: str
    kind: str
    partitions: int

    def problem(self) -> str:
        return f"partitions={self.partitions} on connection '{self.connection}' ({self.kind}), which is not SQL"


def unpartitionable(tasks: list[Any], declared: dict[str, Any]) -> list[Unpartitionable]:
    """The syncs among ``tasks`` that ask partitions of a connection ``declared`` (an instance's
    ``attrs.connections``) as a kind without key ranges; an undeclared or malformed connection is
    reported by its own check."""
    found = []
    for task in tasks:
        source = sync_source(task)
        partitioning = task._bound_args.arguments.get("partitioning") if source else None
        if source is None or partitioning is None:
            continue
        spec = declared.get(source[0])
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in KINDS:
            continue
        cls = connection_class(kind)
        if not (issubclass(cls, SyncSource) and cls.partitionable):
            found.append(Unpartitionable(task._name, source[0], kind, partitioning[0]))
    return found


def refuse_unpartitionable(flow: str, tasks: list[Any], declared: dict[str, Any]) -> None:
    """TaskDefinitionError for the first such sync, before the run creates anything."""
    for sync in unpartitionable(tasks, declared):
        raise TaskDefinitionError(
            f"flow '{flow}', task {sync.task}: {sync.problem()}; {FIX}",
            flow=flow,
            task=sync.task,
            connection=sync.connection,
        )
