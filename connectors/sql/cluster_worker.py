"""The dask.distributed worker this thread runs a task of, if any (distributed comes with the ``dask`` extra).

A partition job asks where it runs, and a partitioned sync whether its ranges can go to the
cluster's workers. A process that never loaded distributed is no worker, so the answer costs no
import there; where it is loaded, ``distributed.get_worker()`` says.

Example::

    worker = current_worker()          # None outside a cluster's task
    if worker is not None:
        print(worker.address)          # tcp://10.0.0.5:40123
"""

from __future__ import annotations

import sys
from typing import Any

from stagehouse.connectors.extras import optional_import


def distributed_module() -> Any:
    """distributed, or a stand-in that names the ``dask`` extra when it is not installed."""
    return optional_import("distributed", feature="Partitions on a cluster", extra="dask")


def current_worker() -> Any | None:
    """The worker running this thread's task; None outside a dask.distributed task."""
    if "distributed" not in sys.modules:
        return None
    try:
        return distributed_module().get_worker()
    except ValueError:  # loaded, but this thread runs no worker's task
        return None
