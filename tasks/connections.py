"""Open the connections of the instance a flow runs on, and record which ones a task names.

Inside a run, pipedag's ConfigContext holds the merged ``attrs`` of the chosen instance, so a
flow run with ``--instance postgres`` reads the connections declared for ``postgres``. A task
that takes connection names marks them on the flow's task (``names_connections``), so
``stagehouse check`` finds an undeclared one when the flow is built, not when it runs.

Example::

    shop = connection("shop")  # inside a task
    output = names_connections(my_task("shop"), "shop")  # in a flow: my_task opens 'shop'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydiverse.pipedag import ConfigContext
from pydiverse.pipedag.core.task import Task

from stagehouse.connectors import Connection, connect
from stagehouse.connectors.errors import ConnectionConfigError
from stagehouse.connectors.registry import WAREHOUSE, warehouse

PROJECT_DIR_ATTR = "project_dir"
NAMED_CONNECTIONS = "_stagehouse_connections"


def connection(name: str) -> Connection:
    """The connection ``name`` as declared for the running instance (``warehouse``: its store)."""
    context = ConfigContext.get()
    attrs = context.attrs
    specs = attrs.get("connections") or {}
    if name == WAREHOUSE and WAREHOUSE not in specs:
        url = context.store.table_store.engine.url.render_as_string(hide_password=False)
        return warehouse(url, instance=context.instance_name, instance_id=context.instance_id)
    return connect(name, specs=specs, base_dir=Path(attrs.get(PROJECT_DIR_ATTR) or Path.cwd()))


def names_connections(output: Any, *names: str) -> Any:
    """Mark the flow task behind ``output`` as opening the connections ``names``; returns
    ``output``. Outside a flow (a task called as a plain function) there is no task to mark."""
    task = getattr(output, "_task", output)  # one output of a task with several
    if isinstance(task, Task):
        setattr(task, NAMED_CONNECTIONS, (*named_connections(task), *names))
    return output


def named_connections(task: Any) -> tuple[str, ...]:
    """The connections a flow's task names (``()`` for a task that marked none)."""
    return getattr(task, NAMED_CONNECTIONS, ())


def undeclared_connections(tasks: list[Any], declared: dict[str, Any]) -> dict[str, list[str]]:
    """``{connection: [task names]}`` of the connections ``tasks`` name that ``declared`` (an
    instance's ``attrs.connections``) lacks; ``warehouse``, the store, is always there."""
    missing: dict[str, list[str]] = {}
    for task in tasks:
        for name in named_connections(task):
            if name != WAREHOUSE and name not in declared:
                missing.setdefault(name, []).append(task._name)
    return missing


def refuse_undeclared(flow: str, tasks: list[Any], declared: dict[str, Any], instance: str) -> None:
    """ConnectionConfigError for the first connection ``tasks`` name that the instance does not
    declare, before the run creates anything (the task would fail only once its stage began)."""
    for name, naming in undeclared_connections(tasks, declared).items():
        known = ", ".join(sorted(declared)) or "none declared"
        raise ConnectionConfigError(
            name,
            f"named by flow '{flow}' (task{'s' if len(naming) > 1 else ''} {', '.join(naming)}) is not declared on "
            f"instance '{instance}' (known: {known}); declare it under attrs.connections in pipedag.yaml or fix the "
            "name in the flow",
        )
