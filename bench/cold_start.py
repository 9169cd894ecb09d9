"""Benchmark: the fixed cost of a command, as a user feels it (a fresh process each time).

Times the whole process of (a) `stagehouse run` of a cached one-task flow, (b) `stagehouse run
nycflights` after a first run (8 tasks, all cache-valid), (c) `stagehouse list`, beside
`python -c "import pydiverse.pipedag"` in the same run: the commands take turns (A B C D, A B C D,
...) so a drift of the machine's speed hits all alike; each figure is the median of --runs fresh
processes, printed with its ratio to the pipedag import. Targets: (a) <= 1.25x, (b) <= 1.5x,
(c) <= 0.5x. The project (pipedag.yaml, flows/, DuckDB store) is a temporary folder.

    .venv/bin/python bench/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STAGEHOUSE = str(Path(PYTHON).parent / "stagehouse")
ONE_TASK_FLOW = '''"""Bench: one sync task (the 16 airlines of the demo's data)."""

from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import sync


def build_flow():
    with Flow("one_task") as flow:
        with Stage("one_task_raw"):
            sync("nycflights", "airlines.csv", primary_key="carrier")
    return flow
'''
TARGETS = {"run one_task (cached)": 1.25, "run nycflights (cached)": 1.5, "list": 0.5}


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "flows").mkdir()
        (root / "flows" / "one_task.py").write_text(ONE_TASK_FLOW)
        # the demo beside it: a project with flows of its own does not list the shipped one
        (root / "flows" / "nycflights.py").write_text((REPO / "flows" / "nycflights.py").read_text())
        document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
        document["instances"]["local"]["instance_id"] = "bench_cold_start"
        (root / "pipedag.yaml").write_text(yaml.safe_dump(document))
        env = {**os.environ, "PIPEDAG_CONFIG": str(root / "pipedag.yaml"), "STAGEHOUSE_INSTANCE": "local"}
        env.pop("STAGEHOUSE_FLOWS_PATH", None)
        commands = {
            "import pydiverse.pipedag": [PYTHON, "-c", "import pydiverse.pipedag"],
            "run one_task (cached)": [STAGEHOUSE, "run", "one_task"],
            "run nycflights (cached)": [STAGEHOUSE, "run", "nycflights"],
            "list": [STAGEHOUSE, "list"],
        }
        for name in ("run one_task (cached)", "run nycflights (cached)"):
            timed(commands[name], env, root)  # first run: fills the cache
            check = subprocess.run(commands[name], env=env, cwd=root, capture_output=True, text=True)
            assert check.returncode == 0 and "COMPLETED" not in check.stdout, check.stdout + check.stderr
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(timed(command, env, root))
    base = statistics.median(times["import pydiverse.pipedag"])
    print(f"median of {args.runs} fresh processes each, taking turns")
    for name, samples in times.items():
        median = statistics.median(samples)
        target = f"  (target <= {TARGETS[name]:.2f}x)" if name in TARGETS else ""
        print(f"{name:<26} {median:6.2f} s  {median / base:5.2f}x the pipedag import{target}")


if __name__ == "__main__":
    main()
