"""`stagehouse check` as a user runs it: a real subprocess on a real project, real servers.

A clean project passes (with --connect: PostgreSQL, MariaDB, a REST API behind a bearer token,
an SFTP server and a folder, each reached once); a broken one prints one line per problem,
naming it, never a password, and exits 1. Nothing is created: no store database, no data folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml

from tests.conftest import PG_SERVER, PG_URL, REPO

STAGEHOUSE = str(Path(sys.executable).parent / "stagehouse")
TOKEN = "tok-3f9a1c77e2"
PASSWORD = "pw-b81d44e0aa"

GOOD_FLOW = '''
"""Orders from PostgreSQL and a folder."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import sync, writeback

def build_flow():
    with Flow("orders") as flow:
        with Stage("raw"):
            orders = sync("pg", "public.orders")
            sync("drops", "rates_*.csv", name="rates")
            sync("api", "orders", name="api_orders")
        with Stage("writeback"):
            writeback("raw.orders", "api", "orders", after=orders)
    return flow
'''
BROKEN_BUILD = '''
"""A flow whose build fails."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import sync

def build_flow():
    with Flow("broken_build") as flow:
        with Stage("raw"):
            sync("drops", "rates.csv", mode="sideways")
    return flow
'''
UNKNOWN_CONNECTION = '''
"""A flow naming a connection nobody declared."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import replicate, sync, writeback

def build_flow():
    with Flow("unknown_connection") as flow:
        with Stage("raw"):
            sync("drops", "rates.csv")
            contacts = sync("crm", "contacts", mode="merge", cursor="updated_at", primary_key="id")
            replicate("shop:public.orders", "bi", "analytics")
        with Stage("writeback"):
            writeback("raw.contacts", "crm", "contacts", after=contacts)
    return flow
'''


def stagehouse(*args: str, root: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in (env or os.environ).items()
        if key not in ("STAGEHOUSE_FLOWS_PATH", "STAGEHOUSE_INSTANCE")
    }
    env.update(
        PIPEDAG_CONFIG=str(root / "pipedag.yaml"), SH_CHECK_TOKEN=TOKEN, SH_CHECK_PASSWORD=PASSWORD, COLUMNS="80"
    )
    return subprocess.run([STAGEHOUSE, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_project(root: Path, connections: dict, flows: dict[str, str]) -> dict[str, str]:
    """The repo's pipedag.yaml with fresh instance ids and ``connections`` added; returns the ids."""
    document = yaml.safe_load((REPO / "pipedag.yaml").read_text())
    ids = {}
    for instance in ("local", "postgres", "dask", "cluster"):
        ids[instance] = document["instances"][instance]["instance_id"] = f"shc_{uuid.uuid4().hex[:10]}"
    document["instances"]["__any__"]["attrs"]["connections"].update(connections)
    (root / "pipedag.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (root / "flows").mkdir()
    for name, text in flows.items():
        (root / "flows" / f"{name}.py").write_text(text)
    (root / "drops").mkdir()
    return ids


def databases() -> set[str]:
    engine = sa.create_engine(f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres")
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    finally:
        engine.dispose()


def assert_nothing_created(root: Path, ids: dict[str, str]) -> None:
    assert not (root / "data").exists()
    assert not set(ids.values()) & databases()


def test_clean_project_passes_and_reaches_every_system_once(tmp_path, pg_url, mysql_url, httpserver, sftp_server):
    httpserver.expect_request("/api/orders", headers={"Authorization": f"Bearer {TOKEN}"}).respond_with_json(
        [{"id": 1}]
    )
    (tmp_path / "outgoing").mkdir()
    connections = {
        "pg": {"type": "sql", "url": PG_URL},
        "drops": {"type": "files", "path": "drops"},
        "api": {
            "type": "rest",
            "base_url": httpserver.url_for("/api"),
            "auth": {"type": "bearer", "token": "{$SH_CHECK_TOKEN}"},
            "objects": {"orders": {"path": "/orders", "primary_key": ["id"]}},
        },
        "partner": sftp_server.spec(tmp_path / "outgoing"),
    }
    ids = write_project(tmp_path, connections, {"orders": GOOD_FLOW})

    checked = stagehouse("check", root=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        checked.stdout.strip().splitlines()[-1]
        == "OK: 7 connections and 1 flow checked on instances local, postgres, dask, cluster"
    )

    reached = stagehouse("check", "--connect", "--instance", "postgres", root=tmp_path)
    assert reached.returncode == 0, reached.stdout + reached.stderr
    assert (
        reached.stdout.strip().splitlines()[-1]
        == "OK: 7 connections (7 reached) and 1 flow checked on instance postgres"
    )
    assert len([r for r, _ in httpserver.log if r.path == "/api/orders"]) == 1
    assert_nothing_created(tmp_path, ids)


def test_each_problem_is_one_line_naming_it_without_secrets(tmp_path, pg_url, mysql_url, monkeypatch):
    scheduler = f"tcp://127.0.0.1:{closed_port()}"  # given but down (one not given is left out of a full check)
    monkeypatch.setenv("DASK_SCHEDULER", scheduler)
    connections = {
        "drops": {"type": "files", "path": "drops"},
        "half": {"type": "sql"},  # no url
        "pg_down": {"type": "sql", "url": "postgresql://postgres:{$SH_CHECK_PASSWORD}@127.0.0.1:1/test"},
        "api_down": {
            "type": "rest",
            "base_url": f"http://127.0.0.1:{closed_port()}/v1",
            "auth": {"type": "bearer", "token": "{$SH_CHECK_TOKEN}"},
        },
    }
    ids = write_project(tmp_path, connections, {"broken_build": BROKEN_BUILD, "unknown_connection": UNKNOWN_CONNECTION})

    checked = stagehouse("check", "--connect", root=tmp_path)
    assert checked.returncode == 1
    output = checked.stdout + checked.stderr
    assert PASSWORD not in output and TOKEN not in output
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    every = "(instances local, postgres, dask, cluster)"
    expected = {
        "half": f"problem: connection 'half' {every}: field 'url': Field required; fix attrs.connections.half in "
        f"{tmp_path / 'pipedag.yaml'}",
        "broken_build": f"problem: flow 'broken_build' ({tmp_path / 'flows' / 'broken_build.py'}): build_flow() "
        "failed: "
        "sync mode 'sideways' is not one of: full, incremental, merge; fix the flow",
        "shop": f"problem: flow 'unknown_connection', task replicate_bi_orders {every}: connection 'shop' is not "
        "declared (known: ",
        "bi": f"problem: flow 'unknown_connection', task replicate_bi_orders {every}: connection 'bi' is not declared "
        "(known: ",
        "crm": f"problem: flow 'unknown_connection', tasks sync_contacts, writeback_contacts {every}: connection "
        "'crm' is not declared (known: ",
        "pg_down": f"problem: connection 'pg_down' {every}: postgresql+psycopg://postgres:***@127.0.0.1:1/test: "
        "connection failed: ",
        "api_down": f"problem: connection 'api_down' {every}: object '(base_url)': GET http://127.0.0.1:",
        "cluster": f"problem: Dask scheduler of instance 'cluster' ({scheduler}): nothing takes connections at ",
    }
    for name, start in expected.items():
        assert [line for line in problems if line.startswith(start)], f"{name}: {start!r} not in\n{checked.stdout}"
    assert "Connection refused" in next(line for line in problems if "'pg_down'" in line)
    assert "ConnectError" in next(line for line in problems if "'api_down'" in line)
    assert len(problems) == 8, checked.stdout
    assert checked.stdout.strip().splitlines()[-1] == (
        "8 problems: 7 connections (4 reached) and 2 flows checked on instances local, postgres, dask, cluster"
    )
    assert_nothing_created(tmp_path, ids)


def test_a_problem_on_one_instance_names_that_instance(tmp_path):
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {})
    document = yaml.safe_load((tmp_path / "pipedag.yaml").read_text())
    document["instances"]["postgres"]["attrs"] = {
        "connections": {"drops": {"type": "files", "path": "drops", "format": "xlsx"}}
    }
    (tmp_path / "pipedag.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    checked = stagehouse("check", root=tmp_path)
    assert checked.returncode == 1
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1 and problems[0].startswith(
        "problem: connection 'drops' (instance postgres): field 'format'"
    )
    assert stagehouse("check", "--instance", "local", root=tmp_path).returncode == 0


def test_malformed_yaml_is_one_line_with_file_line_and_column(tmp_path):
    write_project(tmp_path, {}, {})
    text = (tmp_path / "pipedag.yaml").read_text()
    (tmp_path / "pipedag.yaml").write_text(text.replace("instances:", "instances: [", 1))

    checked = stagehouse("check", root=tmp_path)
    assert checked.returncode == 1
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1, checked.stdout
    assert problems[0].startswith(f"problem: {tmp_path / 'pipedag.yaml'}, line ") and ", column " in problems[0]
    assert problems[0].endswith("fix the YAML there")


TYPO_OBJECT = '''
"""A sync naming a REST object its connection does not list."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import sync

def build_flow():
    with Flow("typo_object") as flow:
        with Stage("typo_raw"):
            sync("api", "orderz", name="api_orders")
    return flow
'''


def test_a_sync_of_an_object_the_rest_connection_does_not_list_is_a_problem(tmp_path):
    api = {
        "type": "rest",
        "base_url": "https://api.example.invalid/v1",
        "objects": {"orders": {"path": "/orders", "primary_key": ["id"]}, "contacts": {"path": "/contacts"}},
    }
    ids = write_project(tmp_path, {"api": api}, {"typo_object": TYPO_OBJECT})

    checked = stagehouse("check", "--instance", "local", root=tmp_path)
    assert checked.returncode == 1, checked.stdout
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert problems == [
        "problem: flow 'typo_object', task sync_api_orders (instance local): connection 'api' has no object 'orderz' "
        "(known: contacts, orders); declare it under objects of 'api' in pipedag.yaml or fix the name in "
        f"{tmp_path / 'flows' / 'typo_object.py'}"
    ], checked.stdout
    assert_nothing_created(tmp_path, ids)


TINY_FLOW = '''
"""One file sync."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import sync

def build_flow():
    with Flow("tiny") as flow:
        with Stage("tiny_raw"):
            sync("drops", "rates_*.csv", name="rates")
    return flow
'''


def test_a_misspelled_table_store_argument_is_named_by_check_and_by_a_run(tmp_path):
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {"tiny": TINY_FLOW})
    text = (tmp_path / "pipedag.yaml").read_text()
    assert "create_database_if_not_exists" in text
    (tmp_path / "pipedag.yaml").write_text(
        text.replace("create_database_if_not_exists", "create_database_if_not_exist")
    )
    expected = {
        instance: f"pipedag.yaml instances.{instance}.table_store.args: SQLTableStore takes no argument "
        "'create_database_if_not_exist'; did you mean create_database_if_not_exists? (arguments: "
        for instance in ("local", "postgres", "dask", "cluster")
    }

    checked = stagehouse("check", root=tmp_path)
    assert checked.returncode == 1
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 4, checked.stdout  # every instance's, not only the first found
    for problem, start in zip(problems, expected.values(), strict=True):
        assert problem.startswith(f"problem: {start}"), checked.stdout
    run = stagehouse("run", "tiny", "--instance", "local", root=tmp_path)
    assert run.returncode != 0 and run.stderr.strip().startswith(f"Error: {expected['local']}"), run.stderr
    assert not (tmp_path / "data").exists()  # refused before the store was made


def test_misspelled_pipedag_keys_and_component_arguments_are_all_named_by_check_and_a_run_stops_at_them(tmp_path):
    """pipedag ignores a key it does not know (a misspelled stage_commit_technique ran with the
    default) and reads a lock manager's base_path by hand (a misspelled one was a bare KeyError):
    check names every such key, with the key meant; a run refuses before it makes anything."""
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {"tiny": TINY_FLOW})
    document = yaml.safe_load((tmp_path / "pipedag.yaml").read_text())
    local = document["instances"]["local"]
    local["stage_commit_tecnique"] = local.pop("stage_commit_technique", "READ_VIEWS")
    local["lock_manager"]["args"] = {"base_pth": local["lock_manager"]["args"]["base_path"]}
    document["strict_instance_lokup"] = document.pop("strict_instance_lookup", True)
    (tmp_path / "pipedag.yaml").write_text(yaml.safe_dump(document))
    expected = [
        "pipedag.yaml: pipedag reads no key 'strict_instance_lokup'; did you mean strict_instance_lookup?",
        "pipedag.yaml instances.local: pipedag reads no key 'stage_commit_tecnique'; did you mean "
        "stage_commit_technique?",
        "pipedag.yaml instances.local.lock_manager.args: FileLockManager takes no argument 'base_pth'; did you "
        "mean base_path? (arguments: base_path)",
        "pipedag.yaml instances.local.lock_manager.args: FileLockManager needs 'base_path'",
    ]

    checked = stagehouse("check", "--instance", "local", root=tmp_path)
    assert checked.returncode == 1
    problems = [line.removeprefix("problem: ") for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == len(expected), checked.stdout
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), checked.stdout
    run = stagehouse("run", "tiny", "--instance", "local", root=tmp_path)
    assert run.returncode != 0 and run.stderr.strip().startswith(f"Error: {expected[0]}"), run.stderr
    assert not (tmp_path / "data").exists()  # refused before the store was made


PARTITIONED_FILES_AND_API = '''
"""partitions= on syncs that are not of a SQL source."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import sync

def build_flow():
    with Flow("not_sql") as flow:
        with Stage("not_sql_raw"):
            sync("drops", "rates.csv", name="rates", partitions=4)
            sync("api", "orders", name="api_orders", partitions=2)
    return flow
'''
PARTITIONED_GLOB = '''
"""partitions= on a file glob: refused by sync() itself."""
from pydiverse.pipedag import Flow, Stage
from stagehouse import sync

def build_flow():
    with Flow("glob") as flow:
        with Stage("glob_raw"):
            sync("drops", "rates_*.csv", name="rates", partitions=4)
    return flow
'''


def test_partitions_on_a_file_set_or_rest_sync_is_refused_before_running(tmp_path):
    api = {"type": "rest", "base_url": "https://api.example.invalid/v1", "objects": {"orders": {"path": "/o"}}}
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}, "api": api}, {})
    (tmp_path / "flows" / "not_sql.py").write_text(PARTITIONED_FILES_AND_API)
    (tmp_path / "flows" / "glob.py").write_text(PARTITIONED_GLOB)
    fix = "drop partitions= (and partition_by=) from the sync: only SQL sources are read in key ranges"

    checked = stagehouse("check", "--instance", "local", root=tmp_path)
    assert checked.returncode == 1, checked.stdout
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    flow_file = tmp_path / "flows" / "not_sql.py"
    assert sorted(problems) == [
        f"problem: flow 'glob' ({tmp_path / 'flows' / 'glob.py'}): build_flow() failed: sync of 'rates' from "
        "connection 'drops': partitions= applies to SQL sources only, and 'rates_*.csv' is a file glob; drop "
        "partitions= (a file set is read as one stream); fix the flow and run `stagehouse check` again",
        "problem: flow 'not_sql', task sync_api_orders (instance local): partitions=2 on connection 'api' (rest), "
        f"which is not SQL; {fix} (in {flow_file})",
        "problem: flow 'not_sql', task sync_rates (instance local): partitions=4 on connection 'drops' (files), "
        f"which is not SQL; {fix} (in {flow_file})",
    ], checked.stdout

    ran = stagehouse("run", "not_sql", "--instance", "local", root=tmp_path)
    assert ran.returncode == 1
    assert (
        "flow 'not_sql', task sync_rates: partitions=4 on connection 'drops' (files), which is not SQL; " + fix
        in " ".join((ran.stdout + ran.stderr).split())
    ), ran.stdout + ran.stderr


def test_an_unset_variable_in_one_instance_fails_only_that_instance(tmp_path):
    write_project(tmp_path, {"drops": {"type": "files", "path": "drops"}}, {"tiny": TINY_FLOW})
    (tmp_path / "drops").mkdir(exist_ok=True)
    (tmp_path / "drops" / "rates_1.csv").write_text("a,b\n1,2\n")
    document = yaml.safe_load((tmp_path / "pipedag.yaml").read_text())
    document["instances"]["postgres"]["table_store"]["args"]["url"] = "postgresql://{$SH_UNSET_SERVER}/shop"
    (tmp_path / "pipedag.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    unset = "pipedag.yaml instances.postgres.table_store.args.url: environment variable SH_UNSET_SERVER is not set"

    checked = stagehouse("check", root=tmp_path)
    problems = [line for line in checked.stdout.splitlines() if line.startswith("problem: ")]
    assert problems == [
        f"problem: {unset}; export SH_UNSET_SERVER, or give it a default: {{$SH_UNSET_SERVER:-default}}"
    ]
    assert stagehouse("check", "--instance", "local", root=tmp_path).returncode == 0
    ran = stagehouse("run", "tiny", "--instance", "local", root=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    refused = stagehouse("run", "tiny", "--instance", "postgres", root=tmp_path)
    assert refused.returncode == 1 and refused.stderr.strip() == f"Error: {unset}", refused.stderr


def test_postgres_urls_spelled_postgres_work_for_connections_and_the_store(tmp_path, pg_url):
    """libpq, Heroku and many DATABASE_URLs write postgres://, which SQLAlchemy dropped: a check
    printed a traceback (NoSuchModuleError) and a run failed. Both spellings work now."""
    source = pg_url.replace("postgresql://", "postgres://", 1)
    ids = write_project(
        tmp_path,
        {"drops": {"type": "files", "path": "drops"}, "pg": {"type": "sql", "url": source}},
        {"tiny": TINY_FLOW},
    )
    (tmp_path / "drops" / "rates_1.csv").write_text("day,rate\n2024-01-01,1.5\n")
    server = re.sub(r"^postgresql(\+\w+)?://", "postgres://", PG_SERVER)
    env = {**os.environ, "STAGEHOUSE_PG_SERVER": server}
    try:
        checked = stagehouse("check", "--connect", "--instance", "postgres", root=tmp_path, env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        run = stagehouse("run", "tiny", "--instance", "postgres", root=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
    finally:
        engine = sa.create_engine(f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{ids["postgres"]}" WITH (FORCE)'))
        engine.dispose()
