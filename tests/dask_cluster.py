"""A real dask.distributed cluster for the test session: ``dask scheduler`` and two ``dask worker``
processes (each under its nanny, which restarts a killed worker) on 127.0.0.1, free ports, the
repo's venv — so workers import stagehouse as a user's would.

Use it by importing the fixture into a test module: ``from tests.dask_cluster import dask_cluster``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

DASK = [sys.executable, "-m", "dask"]  # the venv's `dask` command, run by this interpreter (not its script's shebang)
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _started(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def _wait_for_workers(address: str, processes: list[subprocess.Popen], logs: list[Path]) -> None:
    import distributed

    deadline = time.time() + 60
    while time.time() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        try:
            with distributed.Client(address, timeout=5, set_as_default=False) as client:
                client.wait_for_workers(WORKERS, timeout=max(1, deadline - time.time()))
                return
        except (OSError, TimeoutError):
            time.sleep(0.2)
    output = "\n".join(log.read_text()[-2000:] for log in logs)
    pytest.fail(f"the test dask cluster did not start (scheduler {address}):\n{output}")


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> str:
    """The scheduler's address (``tcp://127.0.0.1:PORT``); the processes end with the session."""
    folder = tmp_path_factory.mktemp("dask_cluster")
    address = f"tcp://127.0.0.1:{free_port()}"
    logs = [folder / "scheduler.log", *(folder / f"worker{i}.log" for i in range(WORKERS))]
    processes = [
        _started(
            [*DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rpartition(":")[2], "--no-dashboard"], logs[0]
        )
    ]
    for i in range(WORKERS):
        processes.append(
            _started(
                [
                    *DASK,
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "2",
                    "--no-dashboard",
                    "--name",
                    f"sh-worker-{i}",
                    "--local-directory",
                    str(folder / f"w{i}"),
                    "--memory-limit",
                    "0",
                ],
                logs[i + 1],
            )
        )
    try:
        _wait_for_workers(address, processes, logs)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
