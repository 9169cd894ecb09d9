"""`stagehouse check --connect` on the ``cluster`` instance reaches its Dask scheduler: a real
closed port and an unset DASK_SCHEDULER are one line naming the instance, the address and the
fix; the session's real cluster (``tests.dask_cluster``) passes. Checking another instance never
imports dask or distributed (``python -X importtime``), so its start stays fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.dask_cluster import dask_cluster  # noqa: F401 (the session's cluster fixture)
from tests.test_check import STAGEHOUSE, closed_port, stagehouse, write_project

pytestmark = pytest.mark.postgres
FIX = "set DASK_SCHEDULER=tcp://host:8786"


def problems(checked: subprocess.CompletedProcess) -> list[str]:
    return [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]


def test_an_unreachable_or_unset_scheduler_is_one_line_naming_instance_address_and_fix(tmp_path, pg_url, monkeypatch):
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {})
    address = f"tcp://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("DASK_SCHEDULER", address)
    closed = stagehouse("check", "--connect", "--instance", "cluster", root=tmp_path)
    assert closed.returncode == 1, closed.stdout + closed.stderr
    [line] = problems(closed)
    assert line.startswith(f"problem: Dask scheduler of instance 'cluster' ({address}): ") and line.endswith(
        f"; start the scheduler, or {FIX}"
    ), line

    monkeypatch.setenv("DASK_SCHEDULER", "")
    unset = stagehouse("check", "--connect", "--instance", "cluster", root=tmp_path)
    assert unset.returncode == 1, unset.stdout + unset.stderr
    assert problems(unset) == [
        f"problem: Dask scheduler of instance 'cluster' (empty address): DASK_SCHEDULER is not set (or empty); {FIX}"
    ]
    assert stagehouse("check", "--instance", "cluster", root=tmp_path).returncode == 0  # reached with --connect only
    every = stagehouse("check", "--connect", root=tmp_path)  # a project not using its cluster yet passes
    assert every.returncode == 0 and not problems(every), every.stdout + every.stderr


def test_a_running_scheduler_passes(tmp_path, pg_url, dask_cluster, monkeypatch):  # noqa: F811
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {})
    monkeypatch.setenv("DASK_SCHEDULER", dask_cluster)
    checked = stagehouse("check", "--connect", "--instance", "cluster", root=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().splitlines()[-1].startswith("OK: ")


def imported(instance: str, root) -> set[str]:
    """The top-level packages ``stagehouse check --connect --instance INSTANCE`` imported (a closed scheduler port)."""
    env = {"PIPEDAG_CONFIG": str(root / "pipedag.yaml"), "DASK_SCHEDULER": f"tcp://127.0.0.1:{closed_port()}"}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", STAGEHOUSE, "check", "--connect", "--instance", instance],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    return {line.rpartition("|")[2].strip().split(".")[0] for line in lines}


def test_checking_another_instance_does_not_import_dask(tmp_path, pg_url):
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {})
    assert not {"dask", "distributed"} & imported("postgres", tmp_path)
    assert {"dask", "distributed"} <= imported("cluster", tmp_path)  # the same measure sees them when they come
