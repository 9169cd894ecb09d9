"""Test flow: incremental sync of the PostgreSQL table named by $SH_KILL_TABLE (killed mid-run)."""

from __future__ import annotations

import os

from pydiverse.pipedag import Flow, Stage

from tasks import sync


def build_flow() -> Flow:
    with Flow("kill_sync") as flow:
        with Stage("raw"):
            sync("pg", os.environ["SH_KILL_TABLE"], name="events", mode="incremental", cursor="id")
    return flow
