"""Sync customers from the REST connection ``crm``, then push their edits back (writeback tests)."""

import os

from pydiverse.pipedag import Flow, Stage

from tasks import sync, writeback


def build_flow() -> Flow:
    with Flow("crm_writeback") as flow:
        with Stage("raw"):
            customers = sync("crm", "customers", name="customers", primary_key="id")
        with Stage("writeback"):
            writeback("raw.customers", "crm", "customers", after=customers, concurrency=int(os.environ.get("WRITEBACK_CONCURRENCY", "8")))
    return flow
