"""pytest plugin: run a project's flows on a throw-away store and read what they wrote.

Installed with Stagehouse (a ``pytest11`` entry point), so any project's tests get the
``stagehouse_project`` fixture without a conftest. It finds the pipedag.yaml above the test file,
mirrors the project into ``tmp_path`` (the config copied, every other top-level entry linked,
``data/`` fresh) and points ``PIPEDAG_CONFIG`` at the mirror: relative connection paths and
``flows/`` resolve as in the project, while the DuckDB file, blobs and locks live in tmp_path. A
PostgreSQL instance gets a fresh ``instance_id`` (its own database), dropped afterwards. Importing
this module loads neither pipedag nor pandas; they load when a test first runs a flow.

Example::

    def test_example(stagehouse_project):
        report = stagehouse_project.run("example")
        assert stagehouse_project.table("mart", "revenue_by_customer", order_by="customer")[0]["revenue"] == 200.0
        assert stagehouse_project.read("SELECT count(*) AS n FROM raw.orders") == [{"n": 6}]

The instance is ``local`` unless ``--stagehouse-instance NAME`` is given; a test can pick its
own with ``@pytest.mark.parametrize("stagehouse_instance", ["local", "postgres"])``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from stagehouse.connectors.errors import StagehouseError

CONFIG_NAMES = ("pipedag.yaml", "pipedag.yml")
NOT_MIRRORED = {*CONFIG_NAMES, "data", ".git", ".venv", ".pytest_cache", "__pycache__"}
SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TestProjectError(StagehouseError):
    """The fixture cannot set up the project, or a flow run in a test failed."""

    __test__ = False  # not a test class, despite the name


def find_project_config(start: Path) -> Path:
    """The first pipedag.yaml in ``start`` or its parents."""
    start = start.resolve()
    for folder in (start, *start.parents):
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise TestProjectError(
        f"no pipedag.yaml in {start} or its parents; put the tests inside a Stagehouse project", path=str(start)
    )


class StagehouseProject:
    """A mirror of a project in a temporary folder, with its own store.

    ``run(flow)`` runs a flow of the project and returns its RunReport (raising when it failed);
    ``table(stage, name)`` and ``read(sql)`` return rows as dicts, as a reader of the store sees them.
    """

    def __init__(self, source: Path, root: Path, instance: str, instance_id: str) -> None:
        self.source = source  # the real project folder
        self.root = root  # the mirror in tmp_path: PIPEDAG_CONFIG points at its pipedag.yaml
        self.instance = instance
        self.instance_id = instance_id

    @property
    def config_file(self) -> Path:
        return self.root / "pipedag.yaml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def run(self, flow: str, stages: list[str] | None = None, check: bool = True, **options: Any):
        """Run flow ``flow`` (a module of the project's flows/) on the test's store.

        ``check``: raise TestProjectError naming the failing task when the run failed (else
        return the failed report). ``options`` go to ``stagehouse.run_flow``.
        Example: ``report = stagehouse_project.run("example", stages=["raw"])``."""
        from stagehouse.flows.catalog import load_flow
        from stagehouse.flows.runner import run_flow

        report = run_flow(load_flow(flow), stages=stages, instance=self.instance, **options)
        if check and not report.ok:
            failed = [task.task for task in report.tasks if task.state == "FAILED"]
            raise TestProjectError(
                f"flow '{flow}' failed on instance '{self.instance}'"
                + (f" in task {', '.join(failed)}" if failed else "")
                + f": {report.error}",
                flow=flow,
                tasks=failed,
            ) from report.error
        return report

    def read(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of a query on the test's store, as dicts.
        Example: ``read("SELECT count(*) AS n FROM raw.orders")`` is ``[{"n": 6}]``."""
        from stagehouse.connectors.registry import connect

        with connect("warehouse", instance=self.instance) as warehouse:
            rows = warehouse.execute(sql, params)
        if not isinstance(rows, list):
            raise TestProjectError(
                "read() takes a query that returns rows, not "
                f"{sql.split()[0] if sql.split() else 'an empty statement'}",
                sql=sql,
            )
        return rows

    def table(self, stage: str, name: str, order_by: str | list[str] | None = None) -> list[dict[str, Any]]:
        """The committed rows of ``stage.name``; ``order_by`` a column or columns to sort by.
        Example: ``table("mart", "revenue_by_customer", order_by="customer")``."""
        columns = [order_by] if isinstance(order_by, str) else list(order_by or [])
        for identifier in (stage, name, *columns):
            if not SAFE_NAME.match(identifier):
                raise TestProjectError(
                    f"'{identifier}' is not a plain name; use read(sql) for anything else", name=identifier
                )
        order = f" ORDER BY {', '.join(columns)}" if columns else ""
        return self.read(f"SELECT * FROM {stage}.{name}{order}")


def _mirror(source_config: Path, root: Path, instance: str, instance_id: str) -> None:
    """Write ``root/pipedag.yaml`` (the instance redirected) and link the project's other entries."""
    import yaml

    from stagehouse.connectors.settings import instance_section, load_config_file

    document = load_config_file(source_config)
    section = (document.get("instances") or {}).get(instance)
    if not isinstance(section, dict):
        known = ", ".join(k for k in (document.get("instances") or {}) if k != "__any__")
        raise TestProjectError(
            f"instance '{instance}' is not in {source_config} (instances: {known})", instance=instance
        )
    effective = instance_section(document, instance)  # what pipedag sees: __any__ merged in
    section["instance_id"] = instance_id
    if str(((effective.get("table_store") or {}).get("args") or {}).get("url", "")).startswith("duckdb:"):
        _args(section, "table_store")["url"] = "duckdb:///{project_dir}/data/{instance_id}/db.duckdb"
    for block in ("blob_store", "lock_manager"):
        if "base_path" in ((effective.get(block) or {}).get("args") or {}):
            _args(section, block)["base_path"] = f"{{project_dir}}/data/{block}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipedag.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (root / "data").mkdir()
    for entry in source_config.parent.iterdir():
        if entry.name not in NOT_MIRRORED:
            (root / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


def _args(section: dict[str, Any], block: str) -> dict[str, Any]:
    """``section[block]["args"]``, created if missing (pipedag merges it over ``__any__``'s)."""
    if not isinstance(section.get(block), dict):
        section[block] = {}
    if not isinstance(section[block].get("args"), dict):
        section[block]["args"] = {}
    return section[block]["args"]


def _drop_database(project: StagehouseProject) -> None:
    """Drop a PostgreSQL instance's test database (nothing to do for a DuckDB file in tmp_path)."""
    import sqlalchemy as sa

    from stagehouse.connectors.settings import store_settings

    url = sa.engine.make_url(store_settings(project.instance, project.config_file).url)
    if url.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{project.instance_id}" WITH (FORCE)'))
    finally:
        engine.dispose()


_quieted: list[bool] = []


def _quiet_pipedag() -> None:
    """pipedag logs every IPC message at DEBUG; a failed test should show warnings, not thousands
    of lines. Done at the fixture's first use: it loads pipedag, which plugin import must not."""
    if not _quieted:
        from stagehouse.flows.config import setup_quiet_logging

        setup_quiet_logging()
        _quieted.append(True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stagehouse-instance",
        default="local",
        help="Instance of pipedag.yaml the stagehouse_project fixture runs on (default: local).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore:duckdb-engine doesn't yet support reflection on indices")


@pytest.fixture
def stagehouse_instance(request: pytest.FixtureRequest) -> str:
    """The pipedag.yaml instance ``stagehouse_project`` runs on; parametrize or override it."""
    return request.config.getoption("--stagehouse-instance")


@pytest.fixture
def stagehouse_project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stagehouse_instance: str
):
    """The test's project (the pipedag.yaml above the test file) on a store of its own; see ``StagehouseProject``."""
    source_config = find_project_config(Path(request.path).parent)
    base = re.sub(r"[^a-z0-9_]+", "_", source_config.parent.name.lower()).strip("_")[:20] or "project"
    instance_id = f"{base}_test_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "stagehouse_project"
    _mirror(source_config, root, stagehouse_instance, instance_id)
    monkeypatch.setenv("PIPEDAG_CONFIG", str(root / "pipedag.yaml"))
    monkeypatch.setenv("STAGEHOUSE_INSTANCE", stagehouse_instance)
    _quiet_pipedag()
    project = StagehouseProject(source_config.parent, root, stagehouse_instance, instance_id)
    yield project
    _drop_database(project)
