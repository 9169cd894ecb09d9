"""Test flow for the cluster instance: three independent syncs of PostgreSQL tables (one partitioned; prefix
$SH_CLUSTER_PREFIX), two transforms, and a probe task that logs its worker's pid; with
$SH_CLUSTER_HOLD it writes the pid next to that file and waits while the file exists, with
$SH_RAISE it raises. The variables are read where the flow is built: workers get them as arguments."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import polars as pl
from pydiverse.pipedag import Flow, Stage, Table, materialize

from stagehouse.connectors.errors import SourceError
from stagehouse.tasks import polars_transform, sql_transform, sync


@materialize(version=None)
def probe(hold: str, fail: str):
    logging.getLogger("cluster_probe").warning("probe ran in pid %s", os.getpid())
    if hold:
        Path(f"{hold}.pid").write_text(str(os.getpid()))
        deadline = time.time() + 60
        while Path(hold).exists() and time.time() < deadline:
            time.sleep(0.05)
    if fail:
        raise SourceError("crm", "object 'contacts'", "HTTP 503 from https://crm.example/api/contacts; retry later")
    return Table(pl.DataFrame({"ok": [1]}), name="probe")


@sql_transform(primary_key="customer_id")
def order_totals(orders, customers):
    return (
        f"SELECT c.id AS customer_id, c.name, count(o.id) AS orders, sum(o.amount) AS total "
        f"FROM {customers} c JOIN {orders} o ON o.customer_id = c.id GROUP BY c.id, c.name"
    )


@polars_transform(primary_key="kind")
def event_kinds(events: pl.LazyFrame) -> pl.LazyFrame:
    return events.group_by("kind").agg(pl.len().alias("events"))


def build_flow() -> Flow:
    prefix = os.environ.get("SH_CLUSTER_PREFIX", "shc_unset")  # flows are listed (run_pipeline) without it
    with Flow("scaled_shop") as flow:
        with Stage("raw"):
            orders = sync("pg", f"public.{prefix}_orders", name="orders")
            customers = sync("pg", f"public.{prefix}_customers", name="customers")
            events = sync("pg", f"public.{prefix}_events", name="events", mode="merge", cursor="id", partitions=3)
            probe(os.environ.get("SH_CLUSTER_HOLD", ""), os.environ.get("SH_RAISE", ""))
        with Stage("mart"):
            order_totals(orders, customers)
            event_kinds(events)
    return flow
