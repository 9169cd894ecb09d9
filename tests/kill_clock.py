"""When to SIGKILL a run in the kill-safety tests: at fractions of how long such a run takes.

The first timed run is often the slowest (a cold cache, a busy machine), so a kill timed from it
can come after the run already ended. Every run that ends before its kill is timed too and the
clock keeps the shortest time, and the point is tried again, so the kills land inside runs on a
loaded machine as on a quiet one.

Example::

    clock = KillClock(duration=2.4)
    process = clock.run_killed([STAGEHOUSE, "run", "kill_sync"], point=0.5, cwd=root, env=env)
    assert process.returncode in (0, -signal.SIGKILL)
    assert clock.hits >= 4
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass
class KillClock:
    duration: float  # seconds a run takes, the shortest seen
    hits: int = 0  # kills that landed inside a running run

    def run_killed(
        self,
        command: list[str],
        *,
        point: float,
        cwd: Path,
        env: dict[str, str],
        output: IO[Any] | int = subprocess.DEVNULL,
        prepare: Callable[[], None] = lambda: None,
        attempts: int = 3,
    ) -> subprocess.Popen:
        """Run ``command`` (after ``prepare``), SIGKILL it ``point`` of a run's duration after its start;
        a run that ends first (successfully) is timed and tried again, up to ``attempts`` runs."""
        for _ in range(attempts):
            prepare()
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
            started = time.perf_counter()
            try:
                process.wait(timeout=self.duration * point)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=120)
                self.hits += 1
                return process
            self.duration = min(self.duration, time.perf_counter() - started)
            if process.returncode != 0:
                return process
        return process
