"""The README's demo: the nycflights flow end to end on the embedded DuckDB store."""

from __future__ import annotations

import pytest

from stagehouse.flows import load_flow, run_flow


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_demo_builds_the_delay_mart_and_reruns_from_cache(project):
    first = run_flow(load_flow("nycflights"))
    assert first.ok, first.error
    rows = {t.task: t.rows for t in first.tasks}
    assert rows["sync_flights"] == 336_776
    assert rows["sync_airlines"] == 16
    ranking = project.read("mart", "carrier_ranking", order_by="rank")
    assert len(ranking) == 16
    assert sum(r["flights"] for r in ranking) == 336_776
    assert ranking[0]["avg_arr_delay_min"] < ranking[-1]["avg_arr_delay_min"]
    by_month = project.read("mart", "delays_by_carrier_month", order_by="carrier, month")
    assert {r["month"] for r in by_month} == set(range(1, 13))

    second = run_flow(load_flow("nycflights"))
    assert {t.state for t in second.tasks} == {"CACHE_VALID"}
