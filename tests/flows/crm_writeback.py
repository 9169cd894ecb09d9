"""Sync customers from the REST connection ``crm``, then push their edits back (writeback tests).

``CRM_SYNC_MODE=merge`` merge-syncs them by their ``updated_at`` cursor instead: json-server,
like many apps, does not move ``updated_at`` when a record is PATCHed, so the merge sync never
fetches a written-back record again, and no merge sync sees a hard delete.
"""

import os

from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import sync, writeback


def build_flow() -> Flow:
    merge = os.environ.get("CRM_SYNC_MODE") == "merge"
    with Flow("crm_writeback") as flow:
        with Stage("raw"):
            if merge:
                customers = sync(
                    "crm", "customers", name="customers", mode="merge", cursor="updated_at", primary_key="id"
                )
            else:
                customers = sync("crm", "customers", name="customers", primary_key="id")
        with Stage("writeback"):
            writeback(
                "raw.customers",
                "crm",
                "customers",
                after=customers,
                concurrency=int(os.environ.get("WRITEBACK_CONCURRENCY", "8")),
            )
    return flow
