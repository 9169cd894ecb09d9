"""A team's own project: flows in the ``flows/`` folder next to its pipedag.yaml, outside the
installed package, importing their siblings, and never shadowing Stagehouse (or being shadowed)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.test_cli import STAGEHOUSE

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def own_project(tmp_path: Path) -> Path:
    """A project folder with a local DuckDB instance and three modules in its flows/ folder:
    a flow, the helper module it imports, and one named like a standard-library module."""
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    document["instances"]["__any__"]["attrs"]["connections"] = {"files": {"type": "files", "path": "files"}}
    (tmp_path / "pipedag.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "prices.csv").write_text("sku,price\na,1.5\nb,2.5\n")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "helpers.py").write_text("MARKUP = 2\n")
    (flows / "json.py").write_text("raise RuntimeError('a project module must never replace the json module')\n")
    (flows / "priced.py").write_text(
        textwrap.dedent('''
        """Prices with markup: a flow of this project."""
        from pydiverse.pipedag import Flow, Stage

        from stagehouse import sql_transform, sync

        from . import helpers


        @sql_transform()
        def marked_up(prices):
            return f"SELECT sku, price * {helpers.MARKUP} AS price FROM {prices}"


        def build_flow():
            with Flow("priced") as flow:
                with Stage("raw"):
                    prices = sync("files", "prices.csv")
                with Stage("mart"):
                    marked_up(prices)
            return flow
    ''')
    )
    return tmp_path


def run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PIPEDAG_CONFIG", "STAGEHOUSE_FLOWS_PATH", "STAGEHOUSE_INSTANCE")
    }
    return subprocess.run([STAGEHOUSE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_a_project_runs_its_own_flow_found_next_to_its_pipedag_yaml(own_project):
    listed = run(own_project, "list")
    assert listed.returncode == 0, listed.stderr
    assert "priced" in listed.stdout and "Prices with markup" in listed.stdout

    result = run(own_project, "run", "priced")

    assert result.returncode == 0, result.stdout + result.stderr
    import duckdb

    with duckdb.connect(str(next((own_project / "data").rglob("db.duckdb"))), read_only=True) as db:
        assert db.execute("SELECT sku, price FROM mart.marked_up ORDER BY sku").fetchall() == [("a", 3.0), ("b", 5.0)]


def test_a_subfolder_of_the_project_finds_the_same_flows(own_project):
    (own_project / "notebooks").mkdir()
    listed = run(own_project / "notebooks", "list")
    assert listed.returncode == 0, listed.stderr
    assert "priced" in listed.stdout


def test_a_project_with_flows_of_its_own_does_not_list_the_shipped_demo(own_project):
    listed = run(own_project, "list")
    assert listed.returncode == 0, listed.stderr
    assert "nycflights" not in listed.stdout


def test_a_flow_file_that_does_not_parse_stops_only_itself(own_project):
    (own_project / "flows" / "half_written.py").write_text(
        '"""Work in progress."""\nSCHEDULE = "0 * * * *"\ndef build_flow(:\n'
    )

    listed = run(own_project, "list")
    assert listed.returncode == 0, listed.stderr
    assert "priced" in listed.stdout
    assert "half_written.py, line 3: SyntaxError" in " ".join(listed.stderr.split())

    assert run(own_project, "run", "priced").returncode == 0
    broken = run(own_project, "run", "half_written")
    assert broken.returncode == 1
    assert "half_written.py, line 3" in " ".join(broken.stderr.split()) and "Traceback" not in broken.stderr

    due = run(own_project, "run", "--due")  # the broken file might hold a schedule: named, and the cron fails
    assert due.returncode == 1 and "half_written.py" in due.stderr
