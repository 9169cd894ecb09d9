"""Benchmark: a full sync from PostgreSQL into the PostgreSQL store, against plain binary COPY.

The same 1,000,000-row x 10-column source table (``sync_postgres_to_duckdb.create_source``) is
moved into the store's server, alternating, ``--repeat`` times each, in this one process:

- ``COPY (psql)``: ``psql -c "COPY t TO STDOUT (FORMAT binary)" | psql -c "COPY t FROM STDIN
  (FORMAT binary)"`` into a table created beforehand with the source's column types — C on both
  ends, the floor (skipped when ``psql`` is not on the PATH);
- ``COPY (psycopg)``: the same two statements joined by psycopg's copy objects, as psycopg's
  documentation copies a table between servers;
- ``stagehouse``: ``sync("bench_pg", "public.bench_sync_source")`` in a one-stage flow on the
  ``postgres`` instance, bumped ``version=`` each repeat so it loads again: the whole run (stage
  set-up, load, primary key, schema swap, run history), and the sync task's own seconds;
- ``stagehouse, no key``: the same rows synced by ``query="SELECT * FROM …"``, which declares no
  key: the task without the primary key's index build, which the COPYs do not do either.

Prints the median seconds and rows/s of each and the rate of stagehouse against the faster COPY
(the target: at least 75 %). Every copy is checked against the source (rows, sum of ids).

    .venv/bin/python bench/sync_postgres_to_postgres.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url
from sync_postgres_to_duckdb import PG_URL, TABLE, create_source, drop_store_database, make_project

INSTANCE_ID = "bench_pg_to_pg"
SERVER = os.environ.get("STAGEHOUSE_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
STORE_URL = f"{SERVER}/{INSTANCE_ID}"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def source_columns() -> str:
    """The source table's columns with their declared types, for the COPY targets."""
    with psycopg.connect(_libpq(PG_URL)) as conn:
        rows = conn.execute(
            "SELECT quote_ident(attname) || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (TABLE,),
        ).fetchall()
    return ", ".join(row[0] for row in rows)


def fresh_target(store: psycopg.Connection, name: str, columns: str) -> None:
    store.execute(f"DROP TABLE IF EXISTS bench.{name}")
    store.execute(f"CREATE TABLE bench.{name} ({columns})")


def copy_psql(store: psycopg.Connection, columns: str) -> None:
    fresh_target(store, "copy_psql", columns)
    source = subprocess.Popen(
        ["psql", _libpq(PG_URL), "-c", f"COPY {TABLE} TO STDOUT (FORMAT binary)"], stdout=subprocess.PIPE
    )
    subprocess.run(
        ["psql", _libpq(STORE_URL), "-c", "COPY bench.copy_psql FROM STDIN (FORMAT binary)"],
        stdin=source.stdout,
        check=True,
        capture_output=True,
    )
    source.stdout.close()
    if source.wait() != 0:
        raise SystemExit("psql COPY TO STDOUT failed")


def copy_psycopg(store: psycopg.Connection, columns: str) -> None:
    fresh_target(store, "copy_psycopg", columns)
    with psycopg.connect(_libpq(PG_URL)) as source, store.transaction():
        with source.cursor().copy(f"COPY {TABLE} TO STDOUT (FORMAT binary)") as out:
            with store.cursor().copy("COPY bench.copy_psycopg FROM STDIN (FORMAT binary)") as into:
                for data in out:
                    into.write(data)


def run_stagehouse(project: Path, repeat: int, keyed: bool = True) -> float:
    """One forced run of the sync (of the table, or of a query without key); returns the sync
    task's own seconds."""
    from pydiverse.pipedag import Flow, Stage

    from stagehouse.flows import run_flow
    from stagehouse.tasks import sync

    source = {"table": f"public.{TABLE}"} if keyed else {"query": f"SELECT * FROM public.{TABLE}"}
    with Flow("bench_pg_to_pg") as flow:
        with Stage("raw"):
            sync("bench_pg", **source, name="rows", version=f"bench-{repeat}")
    report = run_flow(flow, instance="postgres")
    if not report.ok:
        raise SystemExit(f"stagehouse run failed: {report.error}")
    return report.tasks[0].seconds


def checked(store: psycopg.Connection, table: str, expected: tuple[int, int]) -> None:
    found = store.execute(f"SELECT count(*), sum(id) FROM {table}").fetchone()
    if tuple(found) != expected:
        raise SystemExit(f"{table} holds {found}, the source {expected}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    size_mb = create_source(args.rows)
    with psycopg.connect(_libpq(PG_URL)) as conn:
        expected = tuple(conn.execute(f"SELECT count(*), sum(id) FROM {TABLE}").fetchone())
    print(f"source: {args.rows:,} rows x 10 columns, {size_mb:.0f} MB in PostgreSQL")
    drop_store_database(INSTANCE_ID)

    from stagehouse.flows.config import setup_quiet_logging

    setup_quiet_logging()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PIPEDAG_CONFIG"] = str(make_project(Path(tmp), instance_id=INSTANCE_ID))
        run_stagehouse(Path(tmp), -1)  # creates the store database and its metadata: not timed
        columns = source_columns()
        seconds: dict[str, list[float]] = {
            "COPY (psql)": [],
            "COPY (psycopg)": [],
            "stagehouse run": [],
            "stagehouse task": [],
            "task, no key": [],
        }
        if shutil.which("psql") is None:
            del seconds["COPY (psql)"]
            print("psql is not on the PATH: the psql COPY is left out")
        with psycopg.connect(_libpq(STORE_URL), autocommit=True) as store:
            store.execute("CREATE SCHEMA IF NOT EXISTS bench")
            for repeat in range(args.repeat):
                if "COPY (psql)" in seconds:
                    started = time.perf_counter()
                    copy_psql(store, columns)
                    seconds["COPY (psql)"].append(time.perf_counter() - started)
                    checked(store, "bench.copy_psql", expected)
                started = time.perf_counter()
                copy_psycopg(store, columns)
                seconds["COPY (psycopg)"].append(time.perf_counter() - started)
                checked(store, "bench.copy_psycopg", expected)
                started = time.perf_counter()
                seconds["stagehouse task"].append(run_stagehouse(Path(tmp), repeat))
                seconds["stagehouse run"].append(time.perf_counter() - started)
                checked(store, "raw.rows", expected)
                seconds["task, no key"].append(run_stagehouse(Path(tmp), repeat, keyed=False))
                checked(store, "raw.rows", expected)
    drop_store_database(INSTANCE_ID)

    medians = {name: statistics.median(values) for name, values in seconds.items()}
    floor = min(medians[name] for name in medians if name.startswith("COPY"))
    print(f"{'path':<18}{'median s':>10}{'rows/s':>12}{'rate vs COPY':>14}   runs")
    for name, median in medians.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds[name])
        print(f"{name:<18}{median:>10.2f}{args.rows / median:>12,.0f}{floor / median:>13.0%}   {runs}")


if __name__ == "__main__":
    main()
