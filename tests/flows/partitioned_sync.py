"""Test flow: the PostgreSQL table $SH_PART_TABLE synced whole and in partitions, full and merge,
to compare (``tests/test_partitioned_sync.py``)."""

from __future__ import annotations

import os

from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import sync


def build_flow() -> Flow:
    table = os.environ.get("SH_PART_TABLE", "public.shp_unset")  # flows are listed (run_pipeline) without it
    with Flow("partitioned_sync") as flow:
        with Stage("raw"):
            sync("pg", table, name="whole")
            sync("pg", table, name="parts", partitions=3)
            sync("pg", table, name="by_grp", partitions=4, partition_by="grp")  # a column with NULLs
            sync("pg", table, name="whole_merge", mode="merge", cursor="version")
            sync("pg", table, name="parts_merge", mode="merge", cursor="version", partitions=3)
            sync("pg", table, name="parts_append", mode="incremental", cursor="id", partitions=2)
    return flow
