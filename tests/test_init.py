"""``stagehouse init DIR``: a new project that runs and passes its own tests as written, using
the real CLI in subprocesses, and never overwrites an existing folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.test_cli import STAGEHOUSE

PROJECT_ENV = ("PIPEDAG_CONFIG", "STAGEHOUSE_FLOWS_PATH", "STAGEHOUSE_INSTANCE")


def clean_env() -> dict[str, str]:
    """The environment of a user in their project: no test project configured."""
    return {key: value for key, value in os.environ.items() if key not in PROJECT_ENV}


def stagehouse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([STAGEHOUSE, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=300)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_writes_a_project_whose_example_flow_runs(tmp_path):
    created = stagehouse("init", "shop", cwd=tmp_path)

    assert created.returncode == 0, created.stderr
    project = tmp_path / "shop"
    assert sorted(snapshot(project)) == [
        ".github/workflows/stagehouse.yml",
        ".gitignore",
        "README.md",
        "flows/example.py",
        "pipedag.yaml",
        "pytest.ini",
        "requirements.txt",
        "seeds/orders.csv",
        "tests/test_flows.py",
    ]
    assert "data/" in (project / ".gitignore").read_text().splitlines()
    assert "stagehouse run --due" in (project / ".github/workflows/stagehouse.yml").read_text()

    ran = stagehouse("run", "example", cwd=project)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    with duckdb.connect(str(project / "data/shop_local/db.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT customer, orders, revenue FROM mart.revenue_by_customer ORDER BY customer").fetchall()
    assert rows == [("acme", 3, 200.0), ("globex", 2, 99.75), ("initech", 1, 200.0)]


def test_the_new_projects_own_tests_pass_and_leave_its_data_alone(tmp_path):
    assert stagehouse("init", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout
    assert not (project / "data").exists()  # the fixture's store lived in pytest's tmp_path


def test_init_refuses_an_existing_project_and_changes_nothing(tmp_path):
    assert stagehouse("init", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    (project / "flows" / "example.py").write_text("# my own edits\n")
    before = snapshot(project)

    again = stagehouse("init", "shop", cwd=tmp_path)

    assert again.returncode == 1
    assert again.stderr.strip() == "Error: shop/pipedag.yaml exists: shop is already a project; pass a new folder"
    assert snapshot(project) == before


def test_init_refuses_a_folder_with_files_in_it(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me\n")

    refused = stagehouse("init", str(tmp_path / "notes"), cwd=tmp_path)

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"Error: {tmp_path / 'notes'} is not empty (it holds todo.txt); pass a new or empty folder (init never "
        "overwrites files)"
    )
    assert snapshot(tmp_path / "notes") == {"todo.txt": b"keep me\n"}


PLUGIN_TESTS = """
import pytest
import sqlalchemy as sa

from stagehouse.testing import TestProjectError


@pytest.mark.parametrize("stagehouse_instance", ["local", "postgres"])
def test_every_store(stagehouse_project, stagehouse_instance):
    report = stagehouse_project.run("example")
    assert [task.rows for task in report.tasks] == [6, 3]
    assert stagehouse_project.read("SELECT count(*) AS n FROM raw.orders") == [{"n": 6}]
    assert stagehouse_project.instance == stagehouse_instance
    assert stagehouse_project.instance_id.startswith("shop_test_")


def test_a_failed_run_names_its_task(stagehouse_project):
    failed = "flow 'broken' failed on instance 'local' in task sync_missing: .*missing.csv"
    with pytest.raises(TestProjectError, match=failed):
        stagehouse_project.run("broken")
"""

BROKEN_FLOW = '''"""A flow whose source file is not there."""
from pydiverse.pipedag import Flow, Stage

from stagehouse import sync


def build_flow():
    with Flow("broken") as flow:
        with Stage("raw"):
            sync("seeds", "missing.csv", name="missing")
    return flow
'''


def test_the_fixture_runs_on_every_store_and_names_a_failed_task(tmp_path, pg_url):
    assert stagehouse("init", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    (project / "tests" / "test_plugin.py").write_text(PLUGIN_TESTS)
    (project / "flows" / "broken.py").write_text(BROKEN_FLOW)

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_plugin.py"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout
    import sqlalchemy as sa

    from tests.conftest import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(pg_url))
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'shop_test_%'")).scalars().all()
    engine.dispose()
    assert left == []  # the postgres test's database was dropped
