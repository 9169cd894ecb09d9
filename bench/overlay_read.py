"""Benchmark: read a 1,000,000-row table with 10,000 layered edits, beside a plain read of it.

The edits are 8,000 cell updates spread over four columns, 1,000 inserted rows and 1,000 deleted
rows, all NOT_PROCESSED (so all layered). The overlay is one SQL statement run by the store, so
the difference is the store's work on the edits plus the extra rows. Two levels are timed, each
best of ``--repeat``, alternating, after one warm-up: the Arrow result (``wh.arrow``: the store's
work and the transfer; on DuckDB a plain read is nearly a memory copy, so any operator shows),
and ``wh.fetch(df=True)``, the read a user makes. The overlaid result is checked: 1,000,000
rows, the edited values present, the deleted rows gone.

    .venv/bin/python bench/overlay_read.py [--rows 1000000] [--edits 10000] [--store duckdb|postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from stagehouse.connectors.registry import warehouse

TABLE = "raw.events"


def make_table(wh, rows: int) -> None:
    """``raw.events`` with ``rows`` rows: id key, text, integer, double, timestamp, boolean."""
    statement = (
        "CREATE TABLE raw.events AS SELECT i AS id, 'name ' || i AS name, i % 1000 AS amount, "
        "i * 0.5 AS price, TIMESTAMP '2024-01-01' + (i % 86400) * INTERVAL '1 second' AS updated_at, "
        "i % 2 = 0 AS active FROM {series}"
    )
    series = "range(1, :n + 1) t(i)" if wh.engine.dialect.name == "duckdb" else "generate_series(1, :n) t(i)"
    with wh.engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS raw CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA raw"))
        conn.execute(sa.text(statement.format(series=series)), {"n": rows})
        conn.execute(sa.text("ALTER TABLE raw.events ADD PRIMARY KEY (id)"))


def make_edits(wh, rows: int, edits: int) -> dict[str, int]:
    """Updates, inserts and deletes (80/10/10 %) spread over the table; returns their counts."""
    updates, inserts = edits * 8 // 10, edits // 10
    deletes = edits - updates - inserts
    step = rows // updates
    columns = [
        ("name", lambda i: f"edited {i}"),
        ("amount", lambda i: -i),
        ("price", lambda i: i + 0.25),
        ("active", lambda i: None),
    ]
    changes = [
        {
            "table": TABLE,
            "pk_field": "id",
            "row_pk": 1 + k * step,
            "type": "u",
            "field": columns[k % 4][0],
            "new": columns[k % 4][1](1 + k * step),
        }
        for k in range(updates)
    ]
    changes += [
        {
            "table": TABLE,
            "pk_field": "id",
            "row_pk": rows + 1 + k,
            "type": "i",
            "new": {
                "id": rows + 1 + k,
                "name": f"new {k}",
                "amount": k,
                "price": 1.5,
                "updated_at": "2024-06-01 00:00:00",
                "active": True,
            },
        }
        for k in range(inserts)
    ]
    changes += [{"table": TABLE, "pk_field": "id", "row_pk": 2 + k * step, "type": "d"} for k in range(deletes)]
    wh.change_log.append_many(changes, user="bench")
    return {"updates": updates, "inserts": inserts, "deletes": deletes}


def best_of(repeat: int, reads: dict) -> dict[str, float]:
    times = {name: [] for name in reads}
    for _ in range(repeat):
        for name, read in reads.items():
            started = time.perf_counter()
            read()
            times[name].append(time.perf_counter() - started)
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"duckdb:///{Path(tmp) / 'store.duckdb'}" if args.store == "duckdb" else args.pg_url
        wh = warehouse(url)
        make_table(wh, args.rows)
        with wh.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS stagehouse_meta CASCADE"))
        counts = make_edits(wh, args.rows, args.edits)
        base = wh.table("raw", "events")
        plain_sql, overlay_sql = sa.select(base), wh.overlaid(base)

        overlaid = wh.arrow(overlay_sql)
        assert overlaid.num_rows == args.rows + counts["inserts"] - counts["deletes"], overlaid.num_rows
        assert pc.sum(pc.starts_with(overlaid["name"], "edited")).as_py() == (counts["updates"] + 3) // 4
        assert pc.sum(pc.equal(overlaid["id"], pa.scalar(2, overlaid["id"].type))).as_py() == 0
        wh.arrow(plain_sql)

        times = best_of(args.repeat, {"plain": lambda: wh.arrow(plain_sql), "overlay": lambda: wh.arrow(overlay_sql)})
        frames = best_of(
            args.repeat,
            {
                "plain": lambda: wh.fetch("raw", "events", overlay=False, df=True),
                "overlay": lambda: wh.fetch("raw", "events", df=True),
            },
        )
        wh.close()

    print(f"{args.rows:,} rows, {args.edits:,} layered edits ({counts}), store {args.store}, best of {args.repeat}")
    for label, measured in (("Arrow result (wh.arrow)", times), ("pandas DataFrame (wh.fetch(df=True))", frames)):
        ratio = measured["overlay"] / measured["plain"]
        print(
            f"{label:38}: plain {measured['plain']:6.3f} s, overlay {measured['overlay']:6.3f} s = {ratio:.2f}x "
            "(target <= 1.3x)"
        )


if __name__ == "__main__":
    main()
