"""Benchmark: incremental merge of a 1 % change on a 1,000,000-row PostgreSQL table, and peak RSS
of a 10,000,000-row sync.

- For each store (DuckDB ``local``, PostgreSQL ``postgres``): a full merge sync, then 1 % of the
  rows updated in the source, then the incremental run; prints both runs' seconds (the sync task
  alone and the whole flow run) and the incremental run as a percentage of the full one. Measured
  twice: each run in a fresh process (``stagehouse run`` from cron: the run pays Python's imports,
  the first connections and loading DuckDB's postgres extension), and in one process that runs
  the full sync and then rounds of change + incremental run (a scheduler or ``flow.run()``
  in a notebook). Each mode runs five incremental rounds and reports their median.
- The floor beside each: the same kind of run (fresh process or not) of a flow whose one task
  writes a one-row table into the same store — what pipedag and the store cost a task and a run
  before any data moves, as a percentage of the full sync.
- A 10,000,000-row table synced into each store in a child process; prints its peak RSS.

    .venv/bin/python bench/sync_incremental.py [--rows 1000000] [--big-rows 10000000 (0: skip)]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from sync_postgres_to_duckdb import PG_URL, TABLE, drop_store_database, make_project, peak_rss_mb  # noqa: E402


def create_source(rows: int) -> None:
    from sync_postgres_to_duckdb import create_source as create

    create(rows)


def touch_one_percent() -> int:
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        changed = conn.execute(
            sa.text(
                f"UPDATE {TABLE} SET amount = -1, updated_at = last.at + interval '1 day' "
                f"FROM (SELECT max(updated_at) AS at FROM {TABLE}) AS last WHERE id % 100 = 0"
            )
        ).rowcount
    engine.dispose()
    return changed


def build_flow(mode: str):
    from pydiverse.pipedag import Flow, Stage

    from stagehouse.tasks import sync

    with Flow("bench_incremental") as flow:
        with Stage("raw"):
            sync("bench_pg", f"public.{TABLE}", name="rows", mode=mode, cursor="updated_at")
    return flow


def timed(flow, instance: str) -> tuple[float, object]:
    """Run ``flow``; the run's seconds and its first task's outcome, which must have run (a
    cached task would measure nothing)."""
    from stagehouse.flows import run_flow

    started = time.perf_counter()
    report = run_flow(flow, instance=instance)
    assert report.ok, report.error
    task = report.tasks[0]
    assert task.state == "COMPLETED", f"the task did not run ({task.state}): the measure would be of a cached run"
    return time.perf_counter() - started, task


def timed_run(mode: str, instance: str) -> dict:
    whole, task = timed(build_flow(mode), instance)
    return {"whole": whole, "task": task.seconds, "rows": task.rows, "rss_mb": peak_rss_mb()}


def build_floor_flow():
    """A flow whose one task writes a one-row table through the store's cheapest path (a stored
    SELECT, as the sync's own outputs), and runs every time (its cache key is the clock)."""
    import sqlalchemy as sa
    from pydiverse.pipedag import Flow, Stage, Table, materialize

    from stagehouse.tasks.versioned import StoredSelect

    @materialize(version="1", cache=time.time)
    def one_row():
        return Table(StoredSelect(sa.select(sa.literal(1).label("x"))), "one_row")

    with Flow("bench_floor") as flow:
        with Stage("floor"):
            one_row()
    return flow


def timed_floor_run(instance: str) -> dict:
    whole, task = timed(build_floor_flow(), instance)
    return {"whole": whole, "task": task.seconds}


def child(mode: str, instance: str) -> dict:
    """One run in this fresh process."""
    from stagehouse.flows.config import setup_quiet_logging

    setup_quiet_logging()
    return timed_floor_run(instance) if mode == "floor" else timed_run(mode, instance)


ROUNDS = 5  # incremental runs after the full one; the median is reported (a 2-core VM is noisy)


def child_rounds(instance: str, rounds: int = ROUNDS) -> dict:
    """The full run, then ``rounds`` times a 1 % change and an incremental run, in this one process."""
    from stagehouse.flows.config import setup_quiet_logging

    setup_quiet_logging()
    full = timed_run("merge", instance)
    deltas = []
    for _ in range(rounds):
        changed = touch_one_percent()
        deltas.append(timed_run("merge", instance))
    floors = [timed_floor_run(instance) for _ in range(rounds)]
    return {"full": full, "deltas": deltas, "changed": changed, "floors": floors}


def run_child(project: Path, mode: str, instance: str) -> dict:
    env = {**os.environ, "PIPEDAG_CONFIG": str(project / "pipedag.yaml")}
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--instance", instance], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(instance: str, how: str, full: dict, deltas: list[dict], changed: int, floors: list[dict]) -> None:
    task = statistics.median(d["task"] for d in deltas)
    whole = statistics.median(d["whole"] for d in deltas)
    rounds = ", ".join(f"{d['task']:.3f}" for d in deltas)
    floor_task = statistics.median(f["task"] for f in floors)
    floor_whole = statistics.median(f["whole"] for f in floors)
    print(
        f"{instance:>8} store, {how}: full {full['task']:.2f} s (run {full['whole']:.2f} s), "
        f"incremental after {changed:,} changed rows: median {task:.3f} s (run {whole:.2f} s) of rounds {rounds} s "
        f"= {task / full['task']:.1%} of full (runs: {whole / full['whole']:.1%}); "
        f"floor, a one-row task: {floor_task:.3f} s (run {floor_whole:.2f} s) "
        f"= {floor_task / full['task']:.1%} of full (runs: {floor_whole / full['whole']:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--child")
    parser.add_argument("--instance")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_rounds(args.instance) if args.child == "rounds" else child(args.child, args.instance)))
        return

    for instance in ("local", "postgres"):
        for how in ("fresh processes", "one process"):
            create_source(args.rows)
            with tempfile.TemporaryDirectory() as tmp:
                make_project(Path(tmp), instance_id="bench_incremental")
                if how == "one process":
                    rounds = run_child(Path(tmp), "rounds", instance)
                    full, deltas, changed, floors = (
                        rounds["full"],
                        rounds["deltas"],
                        rounds["changed"],
                        rounds["floors"],
                    )
                else:
                    full = run_child(Path(tmp), "merge", instance)
                    deltas = []
                    for _ in range(ROUNDS):
                        changed = touch_one_percent()
                        deltas.append(run_child(Path(tmp), "merge", instance))
                    floors = [run_child(Path(tmp), "floor", instance) for _ in range(ROUNDS)]
            drop_store_database("bench_incremental")
            assert all(delta["rows"] == args.rows for delta in deltas), deltas
            report(instance, how, full, deltas, changed, floors)

    if not args.big_rows:
        return
    create_source(args.big_rows)
    for instance in ("local", "postgres"):
        with tempfile.TemporaryDirectory() as tmp:
            make_project(Path(tmp), instance_id="bench_big")
            big = run_child(Path(tmp), "full", instance)
        drop_store_database("bench_big")
        print(f"{instance:>8} store: {args.big_rows:,} rows in {big['task']:.1f} s, peak RSS {big['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
