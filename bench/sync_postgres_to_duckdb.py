"""Benchmark: sync 1,000,000 rows x 10 columns from PostgreSQL into the DuckDB store.

Three paths over the same source table, each in a fresh child process so its peak RSS is its own:

- ``duckdb_ext``: DuckDB's postgres extension, ``CREATE TABLE AS SELECT`` (the reference);
- ``pipedag_polars``: plain pipedag, a task returning a polars DataFrame read with ADBC;
- ``stagehouse``: ``tasks.sync`` (on a DuckDB store it attaches the source and copies in place);
- ``arrow_stream``: the general streaming path, Arrow batches through the store writer;
- ``arrow_to_pg_store``: the same stream into the PostgreSQL store (ADBC binary COPY);
- ``read_duckdb_scanner`` / ``read_adbc``: reading only, the two PostgreSQL readers compared.

Then the demo flow's first run against its cached rerun. Prints a table with ratios against the
reference, measured in this one run. Needs PostgreSQL (STAGEHOUSE_PG_URL, default local ``test``).

    .venv/bin/python bench/sync_postgres_to_duckdb.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("STAGEHOUSE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE = "bench_sync_source"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def create_source(rows: int) -> float:
    """A PostgreSQL table of ints, floats with NULLs, strings and timestamps; returns its size in MB."""
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
        conn.execute(
            sa.text(
                f"""
                CREATE TABLE {TABLE} AS
                SELECT g AS id,
                       (g::bigint * 7919) % 100000 AS customer_id,
                       CASE WHEN g % 10 = 0 THEN NULL ELSE ((g % 1000) / 7.0)::double precision END AS amount,
                       CASE WHEN g % 3 = 0 THEN NULL ELSE sqrt(g) END AS score,
                       'customer-' || (g % 5000) AS name,
                       md5(g::text) AS token,
                       CASE WHEN g % 2 = 0 THEN 'EUR' ELSE 'USD' END AS currency,
                       timestamp '2024-01-01' + g * interval '1 second' AS created_at,
                       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' AS updated_at,
                       g % 7 = 0 AS flagged
                FROM generate_series(1, :rows) AS g
                """
            ),
            {"rows": rows},
        )
        conn.execute(sa.text(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)"))
        conn.execute(sa.text(f"CREATE INDEX ON {TABLE} (updated_at)"))  # incremental sources index their cursor
        conn.execute(sa.text(f"ANALYZE {TABLE}"))
        size = conn.execute(sa.text(f"SELECT pg_total_relation_size('{TABLE}')")).scalar_one()
    engine.dispose()
    return size / 2**20


def drop_store_database(name: str) -> None:
    """Remove the PostgreSQL store database a bench path created."""
    import sqlalchemy as sa

    server = os.environ.get("STAGEHOUSE_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def make_project(folder: Path, instance_id: str = "bench") -> Path:
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    for instance in ("local", "postgres"):
        document["instances"][instance]["instance_id"] = instance_id
    document["instances"]["__any__"]["attrs"]["connections"]["bench_pg"] = {"type": "sql", "url": PG_URL}
    (folder / "pipedag.yaml").write_text(yaml.safe_dump(document))
    return folder / "pipedag.yaml"


def child_duckdb_ext(project: Path) -> int:
    import duckdb
    import duckdb_extensions
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    con = duckdb.connect(str(project / "ext.duckdb"))
    duckdb_extensions.import_extension("postgres", con=con)
    con.execute("LOAD postgres")
    con.execute(
        f"ATTACH 'host={url.host} port={url.port or 5432} user={url.username} dbname={url.database}' AS pg (TYPE "
        "postgres, READ_ONLY)"
    )
    con.execute(f"CREATE TABLE t AS SELECT * FROM pg.public.{TABLE}")
    return con.execute("SELECT count(*) FROM t").fetchone()[0]


def _run_one_stage(build) -> None:
    from stagehouse.flows.config import config_context, setup_quiet_logging

    setup_quiet_logging()
    flow = build()
    result = flow.run(config=config_context("local"))
    assert result.successful, result.exception


def child_pipedag_polars(project: Path) -> int:
    import polars as pl
    from pydiverse.pipedag import Flow, Stage, Table, materialize

    uri = PG_URL

    @materialize(version="1")
    def source():
        return Table(pl.read_database_uri(f"SELECT * FROM {TABLE}", uri, engine="adbc"), "rows")

    def build():
        with Flow("bench_polars") as flow:
            with Stage("raw"):
                source()
        return flow

    _run_one_stage(build)
    return -1


def child_stagehouse(project: Path) -> int:
    from pydiverse.pipedag import Flow, Stage

    from stagehouse.tasks import sync

    def build():
        with Flow("bench_sync") as flow:
            with Stage("raw"):
                sync("bench_pg", f"public.{TABLE}", name="rows")
        return flow

    _run_one_stage(build)
    return -1


def child_arrow_stream(project: Path, instance: str = "local") -> int:
    """The streaming path without the in-place DuckDB scan: Arrow batches through the store writer."""
    from pydiverse.pipedag import Flow, Stage, Table, materialize

    from stagehouse.connectors import connect
    from stagehouse.flows.config import config_context, setup_quiet_logging
    from stagehouse.tasks import ArrowStream

    @materialize(version="1")
    def source():
        conn = connect("bench_pg", instance=instance)
        return Table(ArrowStream(lambda: conn.read(f"public.{TABLE}"), source="bench"), "rows")

    setup_quiet_logging()
    with Flow("bench_arrow") as flow:
        with Stage("raw"):
            source()
    result = flow.run(config=config_context(instance))
    assert result.successful, result.exception
    return -1


def child_arrow_stream_pg_store(project: Path) -> int:
    return child_arrow_stream(project, instance="postgres")


def child_read_duckdb_scanner(project: Path) -> int:
    """Reading only: Arrow batches from DuckDB's postgres scanner (what SqlConnection.read uses)."""
    from stagehouse.connectors import connect

    return sum(batch.num_rows for batch in connect("bench_pg", instance="local").read(f"public.{TABLE}"))


def child_read_adbc(project: Path) -> int:
    """Reading only: Arrow batches from the ADBC PostgreSQL driver (binary COPY), the alternative."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(PG_URL) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {TABLE}")
        return sum(batch.num_rows for batch in cur.fetch_record_batch())


def child_demo(project: Path) -> int:
    from stagehouse.flows import load_flow, run_flow
    from stagehouse.flows.config import setup_quiet_logging

    setup_quiet_logging()
    report = run_flow(load_flow("nycflights"), instance="local")
    assert report.ok, report.error
    return sum(t.rows or 0 for t in report.tasks)


CHILDREN = {
    "duckdb_ext": child_duckdb_ext,
    "pipedag_polars": child_pipedag_polars,
    "stagehouse": child_stagehouse,
    "arrow_stream": child_arrow_stream,
    "arrow_to_pg_store": child_arrow_stream_pg_store,
    "read_duckdb_scanner": child_read_duckdb_scanner,
    "read_adbc": child_read_adbc,
    "demo": child_demo,
}


def run_child(name: str, project: Path) -> dict:
    env = {**os.environ, "PIPEDAG_CONFIG": str(project / "pipedag.yaml")}
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--project", str(project)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child")
    parser.add_argument("--project", type=Path)
    args = parser.parse_args()
    if args.child:
        # Import every library before the clock starts: the paths compare moving rows, not imports.
        import duckdb  # noqa: F401
        import polars  # noqa: F401
        import pydiverse.pipedag  # noqa: F401

        import stagehouse.flows  # noqa: F401
        import stagehouse.tasks  # noqa: F401

        import_start = peak_rss_mb()
        started = time.perf_counter()
        rows = CHILDREN[args.child](args.project)
        print(
            json.dumps(
                {
                    "seconds": time.perf_counter() - started,
                    "rss_mb": peak_rss_mb(),
                    "start_rss_mb": import_start,
                    "rows": rows,
                }
            )
        )
        return

    size_mb = create_source(args.rows)
    print(f"source: {args.rows:,} rows x 10 columns, {size_mb:.0f} MB in PostgreSQL")
    results = {}
    paths = (
        "duckdb_ext",
        "pipedag_polars",
        "stagehouse",
        "arrow_stream",
        "arrow_to_pg_store",
        "read_duckdb_scanner",
        "read_adbc",
    )
    for name in paths:
        with tempfile.TemporaryDirectory() as tmp:
            make_project(Path(tmp), instance_id=f"bench_{name}")
            results[name] = run_child(name, Path(tmp))
    drop_store_database("bench_arrow_to_pg_store")
    reference = results["duckdb_ext"]["seconds"]
    print(f"{'path':<16}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}{'after imports':>15}{'time vs ext':>13}")
    for name, r in results.items():
        print(
            f"{name:<16}{r['seconds']:>9.2f}{args.rows / r['seconds']:>12,.0f}{r['rss_mb']:>13.0f}"
            f"{r['start_rss_mb']:>15.0f}{r['seconds'] / reference:>12.2f}x"
        )

    with tempfile.TemporaryDirectory() as tmp:
        make_project(Path(tmp))
        first = run_child("demo", Path(tmp))
        cached = run_child("demo", Path(tmp))
    print(
        f"demo nycflights: first run {first['seconds']:.2f} s, cached rerun {cached['seconds']:.2f} s "
        f"({cached['seconds'] / first['seconds']:.0%} of first)"
    )


if __name__ == "__main__":
    main()
