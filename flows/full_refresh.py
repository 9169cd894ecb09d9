"""Which syncs a ``--full-refresh`` run reloads: all of the flow's, or the ones named.

``run_flow(flow, full_refresh=True)`` reloads every sync of the flow (of the selected stages),
``full_refresh=["sync_orders"]`` only those; a name is a sync task's name (``sync_orders``) or
its table's (``orders``), optionally with its stage (``raw.sync_orders``). The run then carries
the choice in its config (``tasks.full_refresh``).

Example::

    refresh_tasks(flow, ["orders"], stages=None)   # ['raw.sync_orders']
"""

from __future__ import annotations

from pydiverse.pipedag import Flow

from stagehouse.connectors.errors import StagehouseError
from stagehouse.tasks.full_refresh import task_key
from stagehouse.tasks.sync import sync_source


class UnknownTaskError(StagehouseError):
    """A task named for a full refresh is not one of the flow's sync tasks."""


def sync_tasks(flow: Flow, stages: list[str] | None = None) -> list:
    """The flow's sync tasks (of ``stages`` only, when given), in flow order."""
    return [t for t in flow.tasks if sync_source(t) is not None and (not stages or t._stage.name in stages)]


def refresh_tasks(flow: Flow, names: bool | list[str], stages: list[str] | None = None) -> list[str]:
    """``stage.task`` of each sync to reload: all of them for ``True``, else those ``names`` name.
    An unknown name is an error listing the flow's sync tasks."""
    syncs = sync_tasks(flow, stages)
    if names is True:
        return [task_key(t) for t in syncs]
    chosen, unknown = [], []
    for name in names or []:
        found = [t for t in syncs if _names(t, name)]
        (chosen.extend(found) if found else unknown.append(name))
    if unknown:
        where = f" in stage {', '.join(stages)}" if stages else ""
        known = ", ".join(t._name for t in syncs) or "none"
        raise UnknownTaskError(
            f"flow '{flow.name}' has no sync task {', '.join(repr(n) for n in unknown)}{where} (sync tasks: {known}); "
            "name one of those",
            flow=flow.name,
            tasks=unknown,
        )
    return sorted({task_key(t) for t in chosen})


def _names(task, name: str) -> bool:
    """True when ``name`` (``sync_orders``, ``orders``, ``raw.sync_orders``, ``raw.orders``) names ``task``."""
    stage, _, short = name.rpartition(".")
    return stage in ("", task._stage.name) and task._name in (short, f"sync_{short}")
