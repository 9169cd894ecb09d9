"""Benchmark: a flow on a 2-worker dask.distributed cluster vs the sequential instance, and one big
table synced in partitions vs whole (PostgreSQL source -> PostgreSQL store).

- ``4 syncs``: a flow of four independent full syncs of a ``--rows`` (1,000,000) row table, run
  on the ``cluster`` instance (a ``dask scheduler`` and two ``dask worker`` processes this script
  starts on 127.0.0.1, two threads each) and on the sequential ``postgres`` instance, alternating,
  ``--repeat`` times; each run reloads (``version=`` bumped). Wall time of ``stagehouse run``.
- ``big table``: one sync of a ``--big-rows`` (default 2,000,000; docs/scale.md's figures are of
  6,000,000) row table, ``partitions=4`` vs unpartitioned, on the sequential ``postgres``
  instance (the four binary COPYs are threads of the run) and on the 2-worker ``cluster`` (the
  sync task spreads its four partition jobs over the workers): wall time, rows/s, the ratio.
- ``ceiling``: the same four copies as plain ``psql`` binary COPY pipes, one at a time and two at
  a time, with the share of the cores each kept busy: the most running two at once can gain here.

Peak RSS per process: the ``stagehouse run`` process (``wait4``), and each worker's own maximum
(``ru_maxrss``); the workers are restarted (by their nannies) before each big-table run on the
cluster, so their peaks are that run's. Every store table is checked (rows).
Defaults take about 4 minutes on a 2-core machine; the 6M case adds about 5.

    .venv/bin/python bench/scale_out.py [--rows 1000000] [--big-rows 2000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parent.parent
STAGEHOUSE = str(Path(sys.executable).with_name("stagehouse"))
PG_URL = os.environ.get("STAGEHOUSE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVER = os.environ.get("STAGEHOUSE_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
TAG = f"bench_scale_{os.getpid()}"
WARM = ("stagehouse.tasks", "stagehouse.flows.cluster_engine", "stagehouse.connectors.sql.partition_jobs")
FLOWS = {
    "scale_four": """
import os
from pydiverse.pipedag import Flow, Stage
from stagehouse.tasks import sync

def build_flow():
    with Flow("scale_four") as flow:
        with Stage("raw"):
            for i in range(4):
                sync("bench_pg", os.environ["BENCH_TABLE"], name=f"copy_{i}", version=os.environ["BENCH_VERSION"])
    return flow
""",
    "scale_big": """
import os
from pydiverse.pipedag import Flow, Stage
from stagehouse.tasks import sync

def build_flow():
    with Flow("scale_big") as flow:
        with Stage("big"):
            sync("bench_pg", os.environ["BENCH_TABLE"], name="big", version=os.environ["BENCH_VERSION"],
                 partitions=int(os.environ["BENCH_PARTITIONS"]))
    return flow
""",
}


def engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")


def create_source(name: str, rows: int) -> None:
    """Ten columns: ints, floats with NULLs, strings, timestamps (as bench/sync_postgres_to_duckdb.py)."""
    with engine(PG_URL).connect() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(
            sa.text(f"""
            CREATE TABLE {name} AS
            SELECT g AS id, (g::bigint * 7919) % 100000 AS customer_id,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE ((g % 1000) / 7.0)::double precision END AS amount,
                   CASE WHEN g % 3 = 0 THEN NULL ELSE sqrt(g) END AS score, 'customer-' || (g % 5000) AS name,
                   md5(g::text) AS token, CASE WHEN g % 2 = 0 THEN 'EUR' ELSE 'USD' END AS currency,
                   timestamp '2024-01-01' + g * interval '1 second' AS created_at,
                   timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' AS updated_at, g % 7 = 0 AS flagged
            FROM generate_series(1, {rows}) AS g""")
        )
        conn.execute(sa.text(f"ALTER TABLE {name} ADD PRIMARY KEY (id)"))
        conn.execute(sa.text(f"ANALYZE {name}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_cluster(folder: Path) -> tuple[str, list[subprocess.Popen]]:
    import distributed

    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [sys.executable, "-m", "dask"]
    log = (folder / "cluster.log").open("w")
    processes = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rpartition(":")[2], "--no-dashboard"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ]
    for i in range(2):
        processes.append(
            subprocess.Popen(
                [
                    *dask,
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "2",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    "--local-directory",
                    str(folder / f"w{i}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
    return address, processes


def worker_peaks(address: str, restart: bool = False) -> list[float]:
    """Each worker's peak RSS (MB) so far; ``restart`` starts fresh worker processes first."""
    import distributed

    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        if restart:  # and import what a task imports, so a run does not pay a cold worker's imports
            client.restart(wait_for_workers=True, timeout=60)
            client.wait_for_workers(2, timeout=60)
            client.run(lambda: [importlib.import_module(name) for name in WARM] and None)
            return []
        return sorted(v / 1024 for v in client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values())


def busy_jiffies() -> tuple[int, int]:
    """The machine's busy and total CPU time so far (``/proc/stat``), to tell how full the cores were."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


CPU_BUSY: dict[str, list[float]] = {}


def run(project: Path, flow: str, instance: str, env: dict) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one ``stagehouse run``; the cores' busy share goes to ``CPU_BUSY``."""
    busy, total = busy_jiffies()
    started = time.perf_counter()
    process = subprocess.Popen(
        [STAGEHOUSE, "run", flow, "--instance", instance],
        cwd=project,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    busy_after, total_after = busy_jiffies()
    CPU_BUSY.setdefault(f"{flow} {instance}", []).append((busy_after - busy) / max(total_after - total, 1))
    if status != 0:
        raise SystemExit(f"stagehouse run {flow} --instance {instance} failed: {stderr.strip()[-400:]}")
    return seconds, usage.ru_maxrss / 1024


def count(instance_id: str, table: str, stage: str = "raw") -> int:
    eng = engine(f"{SERVER}/{instance_id}")
    try:
        with eng.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {stage}.{table}")).scalar_one()
    finally:
        eng.dispose()


def plain_copies(source: str, repeat: int) -> None:
    """The ceiling: the same four copies without Stagehouse, as ``psql`` binary COPY pipes, one
    at a time and two at a time (as the 2-worker cluster runs them). What two at a time gains here
    is the most a cluster can gain on this machine's cores for this work."""
    targets = [f"{source}_plain_{i}" for i in range(4)]
    command = (
        'psql -q "{url}" -c "COPY {source} TO STDOUT (FORMAT binary)" | '
        'psql -q "{url}" -c "COPY {target} FROM STDIN (FORMAT binary)"'
    )
    seconds: dict[int, list[float]] = {1: [], 2: []}
    busy_share: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeat):
        for width in (1, 2):
            with engine(PG_URL).connect() as conn:
                for target in targets:
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {target}"))
                    conn.execute(sa.text(f"CREATE TABLE {target} (LIKE {source})"))
            busy, total = busy_jiffies()
            started = time.perf_counter()
            for start in range(0, 4, width):
                pipes = [
                    subprocess.Popen(command.format(url=PG_URL, source=source, target=target), shell=True)
                    for target in targets[start : start + width]
                ]
                if any(pipe.wait() for pipe in pipes):
                    raise SystemExit("a psql COPY pipe failed (is psql on PATH?)")
            seconds[width].append(time.perf_counter() - started)
            busy_after, total_after = busy_jiffies()
            busy_share[width].append((busy_after - busy) / max(total_after - total, 1))
    with engine(PG_URL).connect() as conn:
        for target in targets:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {target}"))
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    print(f"  plain psql COPY pipes, no Stagehouse, median of {repeat}:")
    print(f"    one at a time     : {one:7.2f} s  (cores busy {statistics.median(busy_share[1]):.0%})")
    print(f"    two at a time     : {two:7.2f} s  (cores busy {statistics.median(busy_share[2]):.0%})")
    print(f"    ceiling speed-up  : {one / two:7.2f} x")


def make_project(folder: Path) -> dict[str, str]:
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    ids = {instance: f"{TAG}_{instance}" for instance in ("postgres", "cluster")}
    for instance, instance_id in ids.items():
        document["instances"][instance]["instance_id"] = instance_id
    document["instances"]["__any__"]["attrs"]["connections"]["bench_pg"] = {"type": "sql", "url": PG_URL}
    (folder / "pipedag.yaml").write_text(yaml.safe_dump(document))
    (folder / "flows").mkdir()
    for name, text in FLOWS.items():
        (folder / "flows" / f"{name}.py").write_text(text)
    return ids


def big_table(folder: Path, env: dict, ids: dict[str, str], address: str, big: str, rows: int, repeat: int) -> None:
    """One sync of ``big`` whole and in 4 partitions, per instance: medians, ratio and peak RSS."""
    results: dict[tuple[str, int], list[tuple[float, float, list[float]]]] = {}
    for instance in ("postgres", "cluster"):
        for round_ in range(repeat):
            for partitions in (1, 4):
                if instance == "cluster":
                    worker_peaks(address, restart=True)
                variables = {"BENCH_VERSION": f"{partitions}-{round_}", "BENCH_PARTITIONS": str(partitions)}
                seconds, peak = run(folder, "scale_big", instance, {**env, "BENCH_TABLE": f"public.{big}", **variables})
                assert count(ids[instance], "big", "big") == rows
                workers = worker_peaks(address) if instance == "cluster" else []
                results.setdefault((instance, partitions), []).append((seconds, peak, workers))
    print(f"1 sync of {rows:,} rows, PostgreSQL -> PostgreSQL store, median of {repeat}:")
    for instance, where in (("postgres", "sequential instance, threads"), ("cluster", "cluster, 2 workers")):
        for partitions in (1, 4):
            runs = results[(instance, partitions)]
            seconds = statistics.median(r[0] for r in runs)
            workers = [max(r[2][i] for r in runs) for i in range(len(runs[0][2]))]
            label = "unpartitioned" if partitions == 1 else f"partitions={partitions}"
            per_worker = f", workers {', '.join(f'{w:.0f}' for w in workers)} MB" if workers else ""
            print(
                f"  {where:29} {label:14}: {seconds:7.2f} s  {rows / seconds / 1e6:.2f} M rows/s  peak RSS runner "
                f"{max(r[1] for r in runs):.0f} MB{per_worker}"
            )
        one = statistics.median(r[0] for r in results[(instance, 1)])
        four = statistics.median(r[0] for r in results[(instance, 4)])
        print(f"  {where:29} partitioned / whole time ratio: {four / one:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the table the 4 syncs copy")
    parser.add_argument("--big-rows", type=int, default=2_000_000, help="rows of the big table (docs: 6000000)")
    parser.add_argument("--repeat", type=int, default=1, help="measured rounds of each case (median)")
    args = parser.parse_args()
    small, big = f"{TAG}_src", f"{TAG}_big"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ids = make_project(folder)
        env = {"PIPEDAG_CONFIG": str(folder / "pipedag.yaml"), "STAGEHOUSE_FLOWS_PATH": str(folder / "flows")}
        address, processes = start_cluster(folder)
        env["DASK_SCHEDULER"] = address
        try:
            create_source(small, args.rows)
            times: dict[str, list[float]] = {"cluster": [], "postgres": []}
            rss: dict[str, float] = {}
            for repeat in range(args.repeat + 1):  # the first round warms up (store databases created)
                for instance in ("cluster", "postgres"):
                    seconds, peak = run(
                        folder,
                        "scale_four",
                        instance,
                        {**env, "BENCH_TABLE": f"public.{small}", "BENCH_VERSION": f"{repeat}"},
                    )
                    assert all(count(ids[instance], f"copy_{i}") == args.rows for i in range(4))
                    if repeat:
                        times[instance].append(seconds)
                        rss[instance] = max(rss.get(instance, 0), peak)
            cluster, sequential = statistics.median(times["cluster"]), statistics.median(times["postgres"])
            print(f"4 syncs x {args.rows:,} rows, PostgreSQL -> PostgreSQL store, median of {args.repeat}:")
            busy = {i: statistics.median(CPU_BUSY[f"scale_four {i}"][1:]) for i in ("postgres", "cluster")}
            print(
                f"  sequential instance : {sequential:7.2f} s  (runner peak RSS {rss['postgres']:.0f} MB, "
                f"cores busy {busy['postgres']:.0%})"
            )
            print(
                f"  cluster (2 workers) : {cluster:7.2f} s  (runner peak RSS {rss['cluster']:.0f} MB, "
                f"cores busy {busy['cluster']:.0%})"
            )
            print(f"  speed-up            : {sequential / cluster:7.2f} x")
            print(f"  worker peak RSS     : {', '.join(f'{p:.0f} MB' for p in worker_peaks(address))}")
            plain_copies(small, args.repeat)

            create_source(big, args.big_rows)
            big_table(folder, env, ids, address, big, args.big_rows, args.repeat)
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            with engine(PG_URL).connect() as conn:
                for name in (small, big):
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
            with engine(f"{SERVER}/postgres").connect() as conn:
                for instance_id in ids.values():
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{instance_id}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
