"""Merge-sync customers from ``crm`` by their ``updated_at`` cursor, then push their edits back.

json-server, like many apps, does not move ``updated_at`` when a record is PATCHed: the merge
sync never fetches a written-back record again, and no merge sync sees a hard delete.
"""

from pydiverse.pipedag import Flow, Stage

from tasks import sync, writeback


def build_flow() -> Flow:
    with Flow("crm_writeback_merge") as flow:
        with Stage("raw"):
            customers = sync("crm", "customers", name="customers", mode="merge", cursor="updated_at", primary_key="id")
        with Stage("writeback"):
            writeback("raw.customers", "crm", "customers", after=customers)
    return flow
