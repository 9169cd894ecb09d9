"""Shared fixtures: a throw-away Stagehouse project per test, on each table store.

``project`` writes a pipedag.yaml (the repo's, with a fresh ``instance_id`` and the test's
connections) into a temporary folder and points PIPEDAG_CONFIG at it. Tests that take
``instance`` run once per store, as pipedag's own ``@with_instances`` does.

Servers: PostgreSQL and MariaDB must answer on 127.0.0.1 (or $STAGEHOUSE_PG_URL /
$STAGEHOUSE_MYSQL_URL). A missing server skips its tests with the reason — except under
CI=true, where a missing server is a failure.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from stagehouse.connectors.errors import first_line

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("STAGEHOUSE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_SERVER = os.environ.get("STAGEHOUSE_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
MYSQL_URL = os.environ.get("STAGEHOUSE_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
PG_STORE_INSTANCES = {"postgres", "dask", "cluster"}
SQLA_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}


def sqlalchemy_url(url: str) -> str:
    """A URL with the driver we ship, for the tests' own SQLAlchemy engines."""
    scheme, _, rest = url.partition("://")
    return f"{SQLA_DRIVERS.get(scheme, scheme)}://{rest}"


def missing_server(what: str) -> None:
    """Skip (or, under CI=true, fail) a test whose server is not there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: server tests must run)")
    pytest.skip(what)


def _reachable(url: str) -> str | None:
    engine = sa.create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except Exception as exc:  # the reason is reported to the user
        return first_line(exc)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the PostgreSQL source database (db ``test``)."""
    if problem := _reachable(PG_URL):
        missing_server(f"PostgreSQL not reachable at {PG_URL} ({problem}); start it or set STAGEHOUSE_PG_URL")
    return PG_URL


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """URL of the MariaDB/MySQL source database (db ``test``)."""
    if problem := _reachable(MYSQL_URL):
        missing_server(f"MariaDB not reachable at {MYSQL_URL} ({problem}); start it or set STAGEHOUSE_MYSQL_URL")
    return MYSQL_URL


@pytest.fixture(
    params=[pytest.param("local", id="duckdb"), pytest.param("postgres", marks=pytest.mark.postgres, id="postgres")]
)
def instance(request) -> str:
    """The table store instance a test runs on: every flow test runs on each."""
    if request.param in PG_STORE_INSTANCES:
        request.getfixturevalue("pg_url")
    return request.param


class Project:
    """A temporary Stagehouse project: its folder, pipedag.yaml, instance and source folder."""

    def __init__(self, root: Path, instance: str, instance_id: str) -> None:
        self.root = root
        self.instance = instance
        self.instance_id = instance_id
        self.files = root / "files"
        self.files.mkdir()

    @property
    def config_file(self) -> Path:
        return self.root / "pipedag.yaml"

    def add_connection(self, name: str, spec: dict) -> None:
        """Declare (or replace) connection ``name`` in this project's pipedag.yaml."""
        document = yaml.safe_load(self.config_file.read_text())
        document["instances"]["__any__"]["attrs"]["connections"][name] = spec
        self.config_file.write_text(yaml.safe_dump(document))

    def store_engine(self) -> sa.Engine:
        """A SQLAlchemy engine on this project's table store."""
        if self.instance in PG_STORE_INSTANCES:
            return sa.create_engine(f"{PG_SERVER}/{self.instance_id}")
        return sa.create_engine(f"duckdb:///{self.root}/data/{self.instance_id}/db.duckdb")

    def warehouse(self):
        """``connect("warehouse")`` on this project's store (the client creates the store if no run did yet)."""
        from stagehouse.connectors import connect

        return connect("warehouse")

    def read(self, stage: str, table: str, order_by: str | None = None) -> list[dict]:
        """The committed rows of ``stage.table`` as dicts (what a reader of the store sees)."""
        engine = self.store_engine()
        try:
            query = f'SELECT * FROM "{stage}"."{table}"' + (f" ORDER BY {order_by}" if order_by else "")
            with engine.connect() as conn:
                return [dict(row) for row in conn.execute(sa.text(query)).mappings()]
        finally:
            engine.dispose()


def drop_database(name: str) -> None:
    """Drop a project's PostgreSQL store database, closing whatever still holds it. Through
    ``psql``, a process of its own, where the machine has it: a driver connecting from the
    dropping thread while DuckDB's postgres extension (its own libpq and OpenSSL) worked in the
    test's thread has crashed the test process (a segmentation fault in ``psycopg2.connect``)."""
    statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    psql = shutil.which("psql")
    if psql is not None:
        server = re.sub(r"^postgresql\+\w+:", "postgresql:", PG_SERVER)
        done = subprocess.run(
            [psql, f"{server}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", statement],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"dropping store database {name}: {done.stderr.strip()}"
        return
    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database_dropper():
    """Drops finished tests' store databases in a background thread: a DROP DATABASE is the
    server's I/O (0.3-1 s), which the next test need not wait for. A failed drop fails the session."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-database") as pool:
        drops: list[Future] = []
        yield lambda name: drops.append(pool.submit(drop_database, name))
    for drop in drops:
        drop.result()


@pytest.fixture
def project(tmp_path: Path, instance: str, monkeypatch, database_dropper) -> Project:
    """A fresh project on ``instance`` with connections ``files`` (a folder), ``pg`` and ``mysql``."""
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    instance_id = f"sht_{uuid.uuid4().hex[:10]}"
    document = copy.deepcopy(document)
    document["instances"][instance]["instance_id"] = instance_id
    connections = document["instances"]["__any__"]["attrs"]["connections"]
    connections["files"] = {"type": "files", "path": "files"}
    connections["pg"] = {"type": "sql", "url": PG_URL}
    connections["mysql"] = {"type": "sql", "url": MYSQL_URL}
    (tmp_path / "pipedag.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setenv("PIPEDAG_CONFIG", str(tmp_path / "pipedag.yaml"))
    monkeypatch.setenv("STAGEHOUSE_INSTANCE", instance)
    monkeypatch.setenv("STAGEHOUSE_FLOWS_PATH", str(Path(__file__).parent / "flows"))
    yield Project(tmp_path, instance, instance_id)
    if instance in PG_STORE_INSTANCES:
        database_dropper(instance_id)


def pytest_configure(config):
    from stagehouse.flows.config import setup_quiet_logging

    setup_quiet_logging()


SERVER_MARKERS = {"pg_url": "postgres", "mysql_url": "mariadb"}


def pytest_collection_modifyitems(items):
    """Mark each test with the servers its fixtures reach, so ``-m "not mariadb"`` leaves them out."""
    for item in items:
        for fixture, marker in SERVER_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory):
    """A real OpenSSH server (Debian's sshd) on a free port, for SFTP connections."""
    from tests.sftp_server import start_sshd

    try:
        process, server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except (FileNotFoundError, RuntimeError) as exc:
        missing_server(f"no SFTP server: {exc}")
    yield server
    process.kill()
    process.wait()
