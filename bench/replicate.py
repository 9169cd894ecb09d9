"""Benchmark: replicate a 1,000,000-row DuckDB store table to PostgreSQL, beside plain COPYs.

Three ways to put the same rows into PostgreSQL, timed in the same run, alternating, best of
``--repeat``:

- ``replicate``: Stagehouse's full copy (Arrow stream out of DuckDB, ADBC binary COPY into a side
  table, primary key, swap in one transaction, drop the old table);
- ``COPY csv``: what a hand-written script does: DuckDB writes a CSV, ``COPY ... FROM STDIN``
  (psycopg) loads it into a table created beforehand;
- ``COPY binary``: the bare bulk path replicate uses (ADBC ingest of the Arrow stream into a new
  table), without side table, key or swap: the floor.

The copies are checked: same row count and sum of ids as the source.

    .venv/bin/python bench/replicate.py [--rows 1000000] [--repeat 3] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import psycopg

from stagehouse.connectors.registry import connect
from stagehouse.connectors.sql.replicate import replicate

SCHEMA = "bench_replicate"


def make_source(duck, rows: int) -> None:
    duck.execute("CREATE SCHEMA IF NOT EXISTS mart")
    duck.execute(
        "CREATE OR REPLACE TABLE mart.orders AS SELECT i AS id, 'customer ' || (i % 50000) AS customer, "
        "(i % 997) * 1.25 AS total, TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 second' AS updated_at, "
        f"i % 3 = 0 AS paid FROM range(1, {rows + 1}) t(i)"
    )


def copy_csv(duck, pg_url: str, folder: Path) -> None:
    csv = folder / "orders.csv"
    duck.execute(f"COPY mart.orders TO '{csv}' (HEADER false)")
    with psycopg.connect(pg_url, autocommit=False) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.orders_csv")
        conn.execute(
            f"CREATE TABLE {SCHEMA}.orders_csv (id BIGINT, customer TEXT, total NUMERIC(18,2), updated_at "
            "TIMESTAMPTZ, paid BOOLEAN)"
        )
        with conn.cursor().copy(f"COPY {SCHEMA}.orders_csv FROM STDIN (FORMAT csv)") as copy, csv.open("rb") as data:
            while chunk := data.read(1 << 20):
                copy.write(chunk)
        conn.commit()


def copy_binary(duck, pg_url: str) -> None:
    with duck.engine.connect() as conn:
        reader = (
            conn.connection.driver_connection.duplicate().execute("SELECT * FROM mart.orders").to_arrow_reader(65_536)
        )
    with adbc.connect(pg_url) as conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {SCHEMA}.orders_binary")
            cur.adbc_ingest("orders_binary", reader, mode="create", db_schema_name=SCHEMA)
        conn.commit()


def checked(pg, table: str, rows: int) -> None:
    found = pg.execute(f"SELECT count(*) AS n, sum(id) AS s FROM {SCHEMA}.{table}")[0]
    assert (found["n"], int(found["s"])) == (rows, rows * (rows + 1) // 2), f"{table}: {found}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        specs = {
            "store": {"type": "sql", "url": f"duckdb:///{folder}/store.duckdb"},
            "pg": {"type": "sql", "url": args.pg},
        }
        duck, pg = connect("store", specs=specs), connect("pg", specs=specs)
        make_source(duck, args.rows)
        pg.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        pg.execute(f"CREATE SCHEMA {SCHEMA}")
        ways = {
            "replicate": lambda: replicate(duck, pg, SCHEMA, table="mart.orders", pk="id"),
            "COPY csv": lambda: copy_csv(duck, args.pg, folder),
            "COPY binary": lambda: copy_binary(duck, args.pg),
        }
        tables = {"replicate": "orders", "COPY csv": "orders_csv", "COPY binary": "orders_binary"}
        best = dict.fromkeys(ways, float("inf"))
        for _ in range(args.repeat):
            for way, run in ways.items():
                started = time.perf_counter()
                run()
                best[way] = min(best[way], time.perf_counter() - started)
                checked(pg, tables[way], args.rows)
        pg.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    print(f"{args.rows:,} rows DuckDB store -> PostgreSQL, best of {args.repeat}:")
    for way, seconds in best.items():
        print(f"  {way:<12} {seconds:6.2f} s  {args.rows / seconds:>12,.0f} rows/s")
    print(
        f"replicate / COPY csv = {best['replicate'] / best['COPY csv']:.2f}x time; "
        f"replicate / COPY binary = {best['replicate'] / best['COPY binary']:.2f}x time"
    )


if __name__ == "__main__":
    main()
