"""Plain pipedag calls in a project use the project's pipedag.yaml, resolved the Stagehouse way.

``flow.run()`` without ``config=``, ``flow.visualize_url()`` and the like ask pipedag for
``PipedagConfig.default``, which reads the raw file: ``{$VAR:-default}`` and ``{project_dir}``
stay unresolved and the ``__any__`` section (no table store) is used, so the run fails with
"Missing config key 'table_store'". pipedag has no hook for its default config (0.12.15), so
``install()`` replaces that one class attribute with a descriptor answering
``pipedag_config()``, whose ``get()`` without an instance picks the default instance. It is called when
``stagehouse.tasks`` is
imported (``from stagehouse import sync`` does); ``tests/test_plain_pipedag.py`` fails if
pipedag stops consulting the attribute.

Example::

    import polars as pl
    from pydiverse.pipedag import Flow, Stage, StageLockContext
    from stagehouse import sync

    with Flow("shop") as flow:
        with Stage("raw"):
            orders = sync("files", "orders.csv")
    with StageLockContext():
        result = flow.run()  # on $STAGEHOUSE_INSTANCE or 'local' of ./pipedag.yaml
        result.get(orders, as_type=pl.DataFrame)
"""

from __future__ import annotations

from typing import Any

from pydiverse.pipedag import PipedagConfig

from stagehouse.tasks.project_config import ProjectConfig, pipedag_config


class ProjectDefault:
    """Descriptor standing in for pipedag's ``PipedagConfig.default`` (a cached class property).

    Read afresh on each use, not cached: the working directory and environment decide the
    project and its placeholders, as they do for ``stagehouse run``; loading takes milliseconds.
    """

    def __get__(self, instance: Any, owner: type) -> ProjectConfig:
        return pipedag_config()


def install() -> None:
    """Make ``PipedagConfig.default`` the project's resolved config (idempotent)."""
    # Patched on purpose: pipedag reads its default config only through this class attribute
    # (Flow.run, visualize_url, _pydot_url; pipedag/core/flow.py) and offers no setting for it.
    if not isinstance(PipedagConfig.__dict__.get("default"), ProjectDefault):
        PipedagConfig.default = ProjectDefault()
