"""Test flow: a sync of the PostgreSQL table named by $SH_KILL_TABLE (killed mid-run): incremental
by id, or the mode $SH_KILL_MODE names (``full``)."""

from __future__ import annotations

import os

from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import sync


def build_flow() -> Flow:
    mode = os.environ.get("SH_KILL_MODE", "incremental")
    with Flow("kill_sync") as flow:
        with Stage("raw"):
            sync("pg", os.environ["SH_KILL_TABLE"], name="events", mode=mode, cursor=None if mode == "full" else "id")
    return flow
