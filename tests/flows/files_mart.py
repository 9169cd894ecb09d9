"""Test flow: orders and customers CSVs synced into raw, three transforms in mart."""

from __future__ import annotations

import pandas as pd
import polars as pl
from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import pandas_transform, polars_transform, sql_transform, sync


@sql_transform(primary_key="customer_id")
def order_totals(orders):
    return f"SELECT customer_id, count(*) AS orders, sum(amount) AS total FROM {orders} GROUP BY customer_id"


@polars_transform(primary_key="id")
def customer_names(customers: pl.LazyFrame) -> pl.LazyFrame:
    return customers.select("id", pl.col("name").str.to_uppercase().alias("name_upper"))


@pandas_transform(version="1")
def revenue_by_name(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    joined = orders.merge(customers, left_on="customer_id", right_on="id")
    return joined.groupby("name", as_index=False)["amount"].sum().rename(columns={"amount": "revenue"})


def build_flow() -> Flow:
    with Flow("files_mart") as flow:
        with Stage("raw"):
            orders = sync("files", "orders.csv", primary_key="order_id")
            customers = sync("files", "customers.csv", primary_key="id")
        with Stage("mart"):
            order_totals(orders)
            customer_names(customers)
            revenue_by_name(orders, customers)
    return flow
