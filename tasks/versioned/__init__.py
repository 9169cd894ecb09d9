"""Incremental and merge syncs whose cost follows the change, not the table.

The rows live in a versioned table outside the stage schemas (``stagehouse_versions``), each row
version stamped with the load that wrote it (``_sh_from``) and the load that replaced or deleted
it (``_sh_to``). A load writes only the delta: it closes the replaced versions and inserts the
new ones as load N. The stage's table is a VIEW of the versions visible at load N, and N itself
is a second output of the sync task — both commit in the stage's schema swap, or neither does.

Readers of the committed stage keep seeing load N-1 while load N is written (its rows are not
visible at N-1). Before it writes, a load records that it started (``__started``). A run that
fails or is killed leaves load N's rows behind; the next run sees a started load past the
committed one, removes its rows (``_sh_from > N-1``) and reopens what they closed
(``_sh_to > N-1``), then tries again — a clean run skips those scans of the whole table.
On DuckDB a load after the first lands its delta as a TEMP table and merges it in the same
transaction: the delta never reaches the database file, and the load commits once.
A schema change (new column, widened type, variant column) rebuilds the versions into a new
generation with the evolution rules of ``tasks.evolution``; the committed view keeps reading the
old generation until the stage commits.

The cursor's high-water mark is the third part of a load's result: a one-row table (``state``,
``high_water``) built in SQL from the new rows and the committed mark, which the sync returns as
its second output. It commits with the view, keeps the cursor's type, and the next run reads it
instead of scanning the whole table for ``max(cursor)``.

One module per job: ``state`` (what a load is), ``table`` (the versions in the store and the
start of a load), ``statements`` (the SQL of a load), ``planner`` (``apply_load``), ``hooks``
(the pipedag hook that writes the stage tables).

Example::

    view, load_row = apply_load(engine, "raw", "orders", previous, stream, LoadSpec("merge", ["id"], "updated_at"))
"""

from stagehouse.tasks.versioned.hooks import LoadRecord, StoredSelect, StoredSelectTableHook, VersionedView
from stagehouse.tasks.versioned.planner import apply_load
from stagehouse.tasks.versioned.state import FROM_LOAD, HIGH_WATER, STATE, TO_LOAD, CommittedLoad, LoadSpec, LoadState
from stagehouse.tasks.versioned.table import VersionedTable

__all__ = [
    "FROM_LOAD",
    "HIGH_WATER",
    "STATE",
    "TO_LOAD",
    "CommittedLoad",
    "LoadRecord",
    "LoadSpec",
    "LoadState",
    "StoredSelect",
    "StoredSelectTableHook",
    "VersionedTable",
    "VersionedView",
    "apply_load",
]
