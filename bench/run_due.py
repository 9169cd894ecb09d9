"""Benchmark: `stagehouse run --due` over 50 scheduled flows of which none is due.

Deciding must not import or build flows it won't run: modules are parsed (not imported) for
their SCHEDULE, the run history is one query, and pipedag is not loaded. The flows here are
daily at 00:00 UTC and each has a recorded run that started after today's slot. Prints the wall
time of the whole command (a fresh process, as a CI cron runs it) beside `stagehouse --help`, the
cost of starting the CLI at all, both best of 3. Target: under 2 s.

    .venv/bin/python bench/run_due.py [--flows 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STAGEHOUSE = str(Path(sys.executable).parent / "stagehouse")
FLOW = '''"""Bench flow {n}."""
SCHEDULE = {{"interval": 86400, "start_time": "00:00"}}


def build_flow():
    raise RuntimeError("a flow that is not due must not be built")
'''


def best_of(command: list[str], env: dict[str, str], cwd: Path) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "flows"
        folder.mkdir()
        for n in range(args.flows):
            (folder / f"bench_flow_{n}.py").write_text(FLOW.format(n=n))
        document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
        document["instances"]["local"]["instance_id"] = "bench_due"
        (root / "pipedag.yaml").write_text(yaml.safe_dump(document))
        env = {
            **os.environ,
            "PIPEDAG_CONFIG": str(root / "pipedag.yaml"),
            "STAGEHOUSE_FLOWS_PATH": str(folder),
            "STAGEHOUSE_INSTANCE": "local",
        }
        os.environ.update(env)
        from stagehouse.flows.history import RunHistory

        with RunHistory.reading("local") as history:
            Path(history.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
            for n in range(args.flows):
                run_id = history.start(f"bench_flow_{n}", [], "schedule")
                history.finish(run_id, "SUCCESS", None, [], [])

        now = dt.datetime.now(dt.UTC).isoformat()
        due = best_of([STAGEHOUSE, "run", "--due", "--now", now], env, root)
        check = subprocess.run(
            [STAGEHOUSE, "run", "--due", "--now", now], env=env, cwd=root, capture_output=True, text=True
        )
        assert "no flow is due" in check.stdout, check.stdout + check.stderr
        bare = best_of([STAGEHOUSE, "--help"], env, root)
    print(f"stagehouse run --due, {args.flows} scheduled flows, none due: {due:.2f} s (target < 2 s)")
    print(f"stagehouse --help (CLI start-up alone)                 : {bare:.2f} s")


if __name__ == "__main__":
    main()
