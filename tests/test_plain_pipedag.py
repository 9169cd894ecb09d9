"""Plain pipedag in a project: ``flow.run()`` without ``config=``, ``flow.visualize_url()`` and
``result.get(task)`` use the project's pipedag.yaml with Stagehouse's placeholders resolved, and
print none of pipedag's INFO/IPC lines unless the user turns logging up.

Each test runs a Python process in a temp project folder, as a user's script would: cwd = the
project, no PIPEDAG_CONFIG, no STAGEHOUSE_INSTANCE.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.test_cli import STAGEHOUSE

REPO = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PIPEDAG_LOG_LINE = re.compile(r"\[(info|debug)\s*\]")  # structlog's console renderer: "[info     ] Locking 'raw'"

RUN_SCRIPT = textwrap.dedent("""
    import polars as pl
    from pydiverse.pipedag import StageLockContext

    from shop import doubled, flow

    with StageLockContext():
        result = flow.run()
        print("successful:", result.successful)
        print("rows:", result.get(doubled, as_type=pl.DataFrame).sort("sku").rows())
    print("url:", flow.visualize_url())
""")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The repo's pipedag.yaml (placeholders and all), a files connection with a tiny CSV, and a
    flow module with a sync and a transform."""
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    document["instances"]["__any__"]["attrs"]["connections"] = {"files": {"type": "files", "path": "files"}}
    (tmp_path / "pipedag.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "prices.csv").write_text("sku,price\na,1.5\nb,2.5\n")
    (tmp_path / "shop.py").write_text(
        textwrap.dedent("""
        from pydiverse.pipedag import Flow, Stage

        from stagehouse import sql_transform, sync


        @sql_transform()
        def doubled(prices):
            return f"SELECT sku, price * 2 AS price FROM {prices}"


        with Flow("shop") as flow:
            with Stage("raw"):
                prices = sync("files", "prices.csv")
            with Stage("mart"):
                doubled = doubled(prices)
    """)
    )
    return tmp_path


def python(project: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PIPEDAG_CONFIG", "STAGEHOUSE_INSTANCE", "STAGEHOUSE_LOG_LEVEL", "STAGEHOUSE_KROKI_URL")
    }
    return subprocess.run(
        [sys.executable, "-c", script], cwd=project, env={**clean, **env}, capture_output=True, text=True, timeout=300
    )


def pipedag_log_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in ANSI.sub("", result.stdout + result.stderr).splitlines() if PIPEDAG_LOG_LINE.search(line)]


def test_plain_flow_run_uses_the_projects_resolved_config_and_is_quiet(project):
    result = python(project, RUN_SCRIPT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "successful: True" in result.stdout
    assert "rows: [('a', 3.0), ('b', 5.0)]" in result.stdout
    # kroki_url is "{$STAGEHOUSE_KROKI_URL:-https://kroki.io}" in the file: resolved to its default
    assert "url: https://kroki.io/graphviz/svg/" in result.stdout
    # the 'local' instance's DuckDB file, under {project_dir}/data
    assert list((project / "data").rglob("db.duckdb"))
    assert pipedag_log_lines(result) == []
    assert "IPC" not in result.stdout + result.stderr


def test_placeholders_follow_the_environment_of_the_run(project):
    result = python(project, RUN_SCRIPT, STAGEHOUSE_KROKI_URL="https://kroki.internal")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "url: https://kroki.internal/graphviz/svg/" in result.stdout


@pytest.mark.parametrize("turn_up", ["env", "python"])
def test_pipedag_log_lines_appear_when_logging_is_turned_up(project, turn_up):
    if turn_up == "env":
        result = python(project, RUN_SCRIPT, STAGEHOUSE_LOG_LEVEL="INFO")
    else:
        script = (
            'import logging, stagehouse.tasks\nlogging.getLogger("pydiverse").setLevel(logging.INFO)\n' + RUN_SCRIPT
        )
        result = python(project, script)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = pipedag_log_lines(result)
    assert any("Locking 'raw'" in line for line in lines), "\n".join(lines[:20])
    assert "\x1b[" not in result.stderr  # a log going to a file or a CI log is plain text, not colour codes


def test_an_instance_not_in_the_file_fails_in_one_line(project):
    result = python(project, "from shop import flow\nflow.run()", STAGEHOUSE_INSTANCE="staging")

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "stagehouse.connectors.errors.ConfigFileError: instance 'staging' is not in pipedag.yaml "
        "(instances: cluster, dask, local, postgres); name one of those (--instance, STAGEHOUSE_INSTANCE)"
    )


def test_a_bad_log_level_fails_in_one_line_on_the_cli(project):
    env = {key: value for key, value in os.environ.items() if key not in ("PIPEDAG_CONFIG", "STAGEHOUSE_INSTANCE")}
    result = subprocess.run(
        [STAGEHOUSE, "run", "shop"],
        cwd=project,
        env={**env, "STAGEHOUSE_LOG_LEVEL": "loud", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "Error: STAGEHOUSE_LOG_LEVEL=loud is not a log level; use DEBUG, INFO, WARNING or ERROR"
    )


def test_pipedag_still_reads_its_default_config_where_stagehouse_hooks_in():
    """tasks/default_config.py replaces ``PipedagConfig.default``; if pipedag stops reading that
    attribute when a call gets no config, plain ``flow.run()`` would read the raw file again."""
    from pydiverse.pipedag import Flow, PipedagConfig
    from pydiverse.pipedag.core import flow as flow_module

    import stagehouse.tasks  # noqa: F401  (installs the hook)
    from stagehouse.tasks.default_config import ProjectDefault

    assert isinstance(PipedagConfig.__dict__["default"], ProjectDefault)
    assert "PipedagConfig.default.get(flow=self.name)" in inspect.getsource(Flow.run)
    assert "PipedagConfig.default.get()" in inspect.getsource(flow_module._pydot_url)


def test_a_plain_pipedag_file_without_a_local_instance_keeps_pipedags_any_section(tmp_path, monkeypatch):
    """A project that is plain pipedag (everything in ``__any__``, no ``local``) runs as before."""
    from stagehouse.tasks.project_config import pipedag_config

    (tmp_path / "pipedag.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "plain",
                "instances": {
                    "__any__": {
                        "instance_id": "plain",
                        "table_store": {
                            "class": "pydiverse.pipedag.backend.table.SQLTableStore",
                            "args": {
                                "url": "duckdb:///{project_dir}/plain.duckdb",
                                "create_database_if_not_exists": True,
                            },
                        },
                        "blob_store": {
                            "class": "pydiverse.pipedag.backend.blob.FileBlobStore",
                            "args": {"base_path": "{project_dir}/blobs"},
                        },
                        "lock_manager": {"class": "pydiverse.pipedag.backend.lock.NoLockManager"},
                        "orchestration": {"class": "pydiverse.pipedag.engine.SequentialEngine"},
                    }
                },
            }
        )
    )
    monkeypatch.delenv("STAGEHOUSE_INSTANCE", raising=False)

    config = pipedag_config(tmp_path / "pipedag.yaml").get()

    assert config.instance_name is None
    assert config.instance_id == "plain"
    config.store.dispose()
