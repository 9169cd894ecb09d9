"""The `stagehouse` command as a user runs it: a real subprocess, exit codes, one-line errors."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.conftest import missing_server
from tests.sources import ORDERS, write_shop

STAGEHOUSE = str(Path(sys.executable).parent / "stagehouse")
COMPLETED, CACHE_VALID, FAILED, SKIPPED = "#adef9b", "#e8ffc6", "#ff453a", "#ffffff"  # pipedag's colours


def stagehouse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([STAGEHOUSE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_run_one_stage_then_the_next(project):
    write_shop(project.files)
    raw = stagehouse("run", "files_mart", "--stage", "raw", "--instance", project.instance, cwd=project.root)
    assert raw.returncode == 0, raw.stderr
    lines = {line.split("│")[1].strip(): line for line in raw.stdout.splitlines() if line.count("│") >= 5}
    assert "COMPLETED" in lines["sync_orders"] and "3" in lines["sync_orders"]
    assert "SKIPPED" in lines["order_totals"]
    assert len(project.read("raw", "orders")) == 3

    mart = stagehouse("run", "files_mart", "-s", "mart", cwd=project.root)
    assert mart.returncode == 0, mart.stderr
    assert "order_totals" in mart.stdout and "COMPLETED" in mart.stdout
    assert len(project.read("mart", "order_totals")) == 2


def test_failed_run_exits_nonzero_with_one_line_naming_the_source(project):
    write_shop(project.files)
    assert stagehouse("run", "files_mart", cwd=project.root).returncode == 0
    (project.files / "customers.csv").unlink()
    write_shop(project.files, orders=ORDERS + [(4, 20, 1)], customers=None)

    failed = stagehouse("run", "files_mart", cwd=project.root)
    assert failed.returncode == 1
    error_lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1, failed.stderr
    assert error_lines[0].startswith("Error: connection 'files', files 'customers.csv'")
    assert "FAILED" in failed.stdout
    assert len(project.read("raw", "orders")) == 3

    debug = stagehouse("--debug", "run", "files_mart", cwd=project.root)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_unknown_flow_and_instance(project):
    unknown = stagehouse("run", "nope", cwd=project.root)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().startswith("Error: no flow 'nope' (flows: crm_writeback, files_mart")
    bad_instance = stagehouse("run", "files_mart", "-i", "staging", cwd=project.root)
    assert bad_instance.returncode == 1
    assert "instance 'staging' is not in pipedag.yaml" in bad_instance.stderr


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_list_shows_flows_with_description(project):
    listed = stagehouse("list", cwd=project.root)
    assert listed.returncode == 0
    assert "files_mart" in listed.stdout and "nycflights" in listed.stdout
    assert "Test flow: orders and customers" in listed.stdout


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_list_loads_no_pipedag_pandas_or_polars(project):
    """`stagehouse list` parses flow modules; it must not pay for importing what running them needs."""
    probe = (
        "import sys\n"
        "from stagehouse.flows.cli import app\n"
        "try:\n"
        "    app(['list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & {'pydiverse', 'pandas', 'polars', 'httpx', "
        "'paramiko', 'streamlit'})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=project.root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "files_mart" in done.stdout
    assert done.stdout.splitlines()[-1] == ""


def test_visualize_prints_self_hosted_kroki_url_and_writes_svg(project, monkeypatch):
    monkeypatch.setenv("STAGEHOUSE_KROKI_URL", "http://kroki.internal:8000")
    shown = stagehouse("visualize", "files_mart", "--out", str(project.root / "g.svg"), cwd=project.root)
    assert shown.returncode == 0, shown.stderr
    url = shown.stdout.split()[0]
    prefix = "http://kroki.internal:8000/graphviz/svg/"
    assert url.startswith(prefix)
    dot = zlib.decompress(base64.urlsafe_b64decode(url.removeprefix(prefix))).decode()
    assert "sync_orders" in dot and "order_totals" in dot
    if "no SVG" in shown.stderr:
        missing_server("Graphviz's dot is not installed (apt-get install graphviz)")
    assert (project.root / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def task_colours(stdout: str) -> dict[str, str]:
    """Task -> fill colour in the Graphviz source inside the Kroki URL `stagehouse visualize` prints."""
    url = stdout.split()[0]
    dot = zlib.decompress(base64.urlsafe_b64decode(url.rpartition("/")[2])).decode()
    return dict(re.findall(r'label="(\w+)", fillcolor="(#\w+)"', dot))


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_visualize_a_run_colours_tasks_by_their_recorded_state(project):
    from stagehouse.flows import get_pipeline_runs

    write_shop(project.files)
    assert stagehouse("run", "files_mart", cwd=project.root).returncode == 0
    (project.files / "customers.csv").unlink()  # the next run fails in sync_customers
    assert stagehouse("run", "files_mart", cwd=project.root).returncode == 1
    failed_run, first_run = (run["run_id"] for run in get_pipeline_runs("files_mart"))

    first = stagehouse("visualize", "files_mart", "--run", first_run, cwd=project.root)
    assert first.returncode == 0, first.stderr
    assert set(task_colours(first.stdout).values()) == {COMPLETED}
    shown = stagehouse(
        "visualize", "files_mart", "--run", failed_run, "--out", str(project.root / "run.svg"), cwd=project.root
    )
    assert shown.returncode == 0, shown.stderr
    assert task_colours(shown.stdout) == {
        "sync_orders": CACHE_VALID,
        "sync_customers": FAILED,
        "order_totals": SKIPPED,
        "customer_names": SKIPPED,
        "revenue_by_name": SKIPPED,
    }
    assert FAILED in (project.root / "run.svg").read_text()
    unknown = stagehouse("visualize", "files_mart", "--run", "nosuchrun", cwd=project.root)
    assert unknown.returncode == 1 and "no run 'nosuchrun'" in unknown.stderr


def test_changes_fit_80_columns_and_wide_shows_whole_values(project):
    long_name = "Ada Lovelace, Countess of Lovelace, first programmer"
    error = "HTTP 404: Not Found: PATCH http://crm.example.com/api/customers/2 (connection 'crm', object 'customers')"
    with project.warehouse() as wh:
        wh.write("crm", "customers", [{"id": i, "name": f"customer {i}", "city": "Ghent"} for i in (1, 2, 3)], pk="id")
        wh.update_cell("crm.customers", "name", 1, long_name, user="ana")
        failed = wh.update_cell("crm.customers", "city", 2, "Leuven", user="ana")
        wh.insert_row("crm.customers", {"id": 100, "name": "New Co", "city": "Bergen"}, user="bo")
        wh.delete_row("crm.customers", 3, user="bo")
        wh.update_change(failed, "FAILED", error)
    env = {**os.environ, "COLUMNS": "80"}

    narrow = subprocess.run(
        [STAGEHOUSE, "changes", "crm.customers"], cwd=project.root, env=env, capture_output=True, text=True, timeout=60
    )
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, narrow.stdout
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0].isdigit()}
    assert len(rows) == 4, narrow.stdout
    first, second, insert, delete = (rows[k] for k in sorted(rows, key=int))
    assert first.split()[1:3] == ["1", "name"] and "customer 1" in first and "NOT_PROCESSED" in first
    assert "Ada Lovelace" in first and "…" in first and long_name not in first  # cut on one line, its start readable
    assert "city" in second and "Ghent" in second and "Leuven" in second and "FAILED" in second
    assert (
        " ".join(narrow.stdout.split("errors")[-1].split()) == f"{failed}: {error}"
    )  # whole, after the table, wrapped
    assert "(new row)" in insert and '{"id": 100' in insert
    assert "(deleted)" in delete and '{"id": 3' in delete

    wide = subprocess.run(
        [STAGEHOUSE, "changes", "crm.customers", "--wide"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wide.returncode == 0, wide.stderr
    assert (
        long_name in wide.stdout
        and error in wide.stdout
        and '{"id": 100, "name": "New Co", "city": "Bergen"}' in wide.stdout
    )


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_malformed_config_names_file_line_and_column(project):
    lines = project.config_file.read_text().splitlines()
    project.config_file.write_text("\n".join([*lines, "broken: [unclosed", "name: x"]) + "\n")
    env = {**os.environ, "COLUMNS": "400"}  # the tmp path makes the line long; rich wraps at the width
    failed = subprocess.run(
        [STAGEHOUSE, "run", "files_mart"], cwd=project.root, env=env, capture_output=True, text=True, timeout=300
    )
    assert failed.returncode == 1
    error_lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert error_lines == [
        f"Error: {project.config_file}, line {len(lines) + 2}, column 5: did not find expected ',' or ']' "
        f"(while parsing a flow sequence at line {len(lines) + 1}, column 9); fix the YAML there"
    ], failed.stderr
