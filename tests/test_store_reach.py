"""A store that does not answer: `stagehouse check --connect` names it, and a run says in one line
which instance's store failed and how to fix it (not the driver's bare OperationalError)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.test_cli import STAGEHOUSE

pytestmark = pytest.mark.parametrize("instance", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def stagehouse(project, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "STAGEHOUSE_PG_SERVER": "postgresql://postgres:hunter2@127.0.0.1:1"}
    return subprocess.run([STAGEHOUSE, *args], cwd=project.root, env=env, capture_output=True, text=True, timeout=120)


def test_an_unreachable_store_is_named_by_check_and_by_a_run(project):
    (project.files / "prices.csv").write_text("sku,price\na,1\n")

    checked = stagehouse(project, "check", "--instance", "postgres", "--connect")
    assert checked.returncode == 1
    line = next(line for line in checked.stdout.splitlines() if "store of instance 'postgres'" in line)
    assert "127.0.0.1:1" in line and "STAGEHOUSE_PG_SERVER" in line and "hunter2" not in checked.stdout

    ran = stagehouse(project, "run", "files_mart", "--instance", "postgres")
    assert ran.returncode == 1
    error = " ".join(ran.stderr.split())
    assert error.startswith("Error: store of instance 'postgres' (postgresql://postgres:***@127.0.0.1:1/"), error
    assert "STAGEHOUSE_PG_SERVER" in error and "hunter2" not in ran.stderr and "Traceback" not in ran.stderr
