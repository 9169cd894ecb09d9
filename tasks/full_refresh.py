"""Full refresh: this run reloads chosen syncs from the source, ignoring what they committed.

Why a run-scoped setting and not a ``version=`` bump: a bump changes the task's identity for
every later run. Here the setting lives in the run's ``ConfigContext`` (its ``attrs``, so it
reaches Dask workers too) as ``stage.task`` names:

- a sync's cache function adds a value of this run to its freshness (``tasks.sync``), so the
  sync is not CACHE_VALID and every task downstream sees a new input and reruns;
- an incremental or merge sync of that run reads the whole source and writes a new generation
  of versions holding only the new rows, with a high-water mark from them alone
  (``tasks.versioned``, ``LoadSpec.reload``). The committed generation stays until the stage's
  schema swap commits the new one; a failed or killed run leaves it and its mark as they were.

Example::

    config = with_full_refresh(config_context("local"), ["raw.sync_orders"])
    flow.run(config=config)            # sync_orders reloads; its rows deleted at the source go
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from box import Box
from pydiverse.pipedag import ConfigContext

SETTING = "stagehouse_full_refresh"


def task_key(task) -> str:
    """``stage.task``: how the setting names a task (task names may repeat across stages)."""
    return f"{task._stage.name}.{task._name}"


def with_full_refresh(config: ConfigContext, tasks: Iterable[str]) -> ConfigContext:
    """``config`` for a run that fully refreshes ``tasks`` (``stage.task`` names)."""
    attributes = dict(config.attrs)
    attributes[SETTING] = sorted(set(tasks))
    return attrs.evolve(config, attrs=Box(attributes, frozen_box=True))


def requested(task) -> bool:
    """True when the running config asks to fully refresh ``task``."""
    try:
        chosen = ConfigContext.get().attrs.get(SETTING) or ()
    except LookupError:  # outside a run
        return False
    return task_key(task) in chosen
