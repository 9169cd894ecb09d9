"""The ``stagehouse`` executable: the command line, with Python's cycle collector held back while
the command loads its libraries.

Loading pipedag, pandas, polars and SQLAlchemy allocates hundreds of thousands of objects that
live until the process exits. With the collector's default threshold it walks them again and
again while they load, and finds nothing to free: a cached ``stagehouse run`` spent more time
collecting than running its tasks. So the executable raises the threshold of the youngest
generation before anything is imported, and ``startup_done()`` — called once a run has loaded
what it needs (``run_flow``) — moves every object alive then into the permanent generation
(``gc.freeze``) and restores the default threshold, so a long sync still collects the cycles
it makes. A command that never calls it still collects, only less often. Library users who call
``run_flow`` from their own Python are not affected: nothing changes unless the executable held
the collector back.

pipedag's engine package imports dask to define its ``DaskEngine`` whichever engine an instance
names; ``defer_dask_for_pipedag()`` lets a run on another engine skip loading dask.

Example (pyproject.toml)::

    [project.scripts]
    stagehouse = "stagehouse.flows.console:main"
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import sys
import types

STARTUP_THRESHOLD = 1_000_000  # allocations between young collections while the command starts
# the thresholds to restore, while the collector is held back
_held: dict[str, tuple[int, ...] | None] = {"thresholds": None}


def main() -> None:
    """Run the command line with the collector held back until ``startup_done()``."""
    hold_collector()
    defer_dask_for_pipedag()
    from stagehouse.flows.cli import app

    app()


def hold_collector() -> None:
    """Collect the youngest generation only every ``STARTUP_THRESHOLD`` allocations."""
    if _held["thresholds"] is None:
        _held["thresholds"] = thresholds = gc.get_threshold()
        gc.set_threshold(STARTUP_THRESHOLD, *thresholds[1:])


def startup_done() -> None:
    """Freeze what start-up built and restore the collector's thresholds; a no-op unless
    ``hold_collector()`` held it back (so calling it from library code is always safe)."""
    thresholds = _held["thresholds"]
    if thresholds is None:
        return
    _held["thresholds"] = None
    gc.freeze()
    gc.set_threshold(*thresholds)


PIPEDAG_DASK = "pydiverse.pipedag.optional_dependency.dask"  # holds pipedag's one name for dask


class _DaskOnFirstUse(types.ModuleType):
    """Stands for the ``dask`` module in pipedag's DaskEngine; the first attribute read (its
    ``dask.delayed``) imports dask."""

    def __getattr__(self, name: str):
        return getattr(importlib.import_module("dask"), name)


def defer_dask_for_pipedag() -> None:
    """Give pipedag's engine package a ``dask`` that loads on first use, unless dask is missing
    (pipedag then refuses the DaskEngine as before) or already loaded."""
    if PIPEDAG_DASK in sys.modules or "dask" in sys.modules or importlib.util.find_spec("dask") is None:
        return
    holder = types.ModuleType(PIPEDAG_DASK, "pipedag's optional dask import, loaded on first use")
    holder.__dict__["dask"] = _DaskOnFirstUse("dask")
    sys.modules[PIPEDAG_DASK] = holder
