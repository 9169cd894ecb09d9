"""`--full-refresh`: incremental and merge syncs reloaded from the source, on every store.

A normal run of a merge or incremental sync cannot see rows deleted at the source; a full
refresh reloads the whole source, so they go. Readers keep the old table until the stage
commits, and a failed full refresh leaves the old table and its high-water mark: the next normal
run continues from there.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.flows.full_refresh import UnknownTaskError
from stagehouse.tasks import sql_transform, sync
from tests.conftest import sqlalchemy_url
from tests.test_sync_modes import refuse, row

SPECS = {"merge": dict(mode="merge", cursor="updated"), "incremental": dict(mode="incremental", cursor="updated")}


@pytest.fixture
def events(pg_url):
    """(table name, engine, sa.Table) of a fresh PostgreSQL ``events`` table, ids 1-100."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    metadata = sa.MetaData()
    table = sa.Table(
        f"sh_fr_{uuid.uuid4().hex[:8]}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(20)),
        sa.Column("amount", sa.Integer),
        sa.Column("updated", sa.DateTime),
        sa.Column("deleted", sa.Boolean),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i) for i in range(1, 101)])
    yield table.name, engine, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}_away"))
    engine.dispose()


@sql_transform()
def counted(events):
    return f"SELECT count(*) AS n FROM {events}"


def flow_of(name: str, mode: str, *, failing: bool = False) -> Flow:
    """Two syncs of the same table (one refreshed, one not) and a count downstream of the first."""
    with Flow("refresh") as flow:
        with Stage("raw"):
            events = sync("pg", name, **SPECS[mode])
            sync("pg", name, name="other", **SPECS[mode])
            if failing:
                refuse(events)
        with Stage("mart"):
            counted(events)
    return flow


def ids(project, name: str) -> list[int]:
    return [r["id"] for r in project.read("raw", name, order_by="id")]


def states(report) -> dict[str, str]:
    return {t.task: t.state for t in report.tasks}


@pytest.mark.parametrize("mode", ["merge", "incremental"])
def test_full_refresh_drops_rows_deleted_at_the_source_downstream_too(project, events, mode):
    name, engine, table = events
    assert run_flow(flow_of(name, mode)).ok
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.id.in_([3, 4])))
        conn.execute(table.insert(), [row(101, minutes=1000)])

    normal = run_flow(flow_of(name, mode))
    assert normal.ok, normal.error
    assert ids(project, name) == list(range(1, 102))  # a delta cannot tell deletions

    refreshed = run_flow(flow_of(name, mode), full_refresh=[name])
    assert refreshed.ok, refreshed.error
    assert states(refreshed) == {f"sync_{name}": "COMPLETED", "sync_other": "CACHE_VALID", "counted": "COMPLETED"}
    assert ids(project, name) == [1, 2, *range(5, 102)]
    assert refreshed.tasks[0].rows == 99
    from stagehouse.flows import get_pipeline_logs

    assert any(line.message == f"full refresh of raw.sync_{name}" for line in get_pipeline_logs(refreshed.run_id))
    assert ids(project, "other") == list(range(1, 102))  # not named: untouched

    assert [r["n"] for r in project.read("mart", "counted")] == [99]  # downstream reran on the reloaded rows

    once_more = run_flow(flow_of(name, mode))  # the refresh's identity was its own: one more (empty) delta
    assert once_more.ok, once_more.error
    after = run_flow(flow_of(name, mode))  # then an unchanged source is cached again
    assert set(states(after).values()) == {"CACHE_VALID"}
    assert [r["n"] for r in project.read("mart", "counted")] == [99]
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(102, minutes=2000)])
    assert run_flow(flow_of(name, mode)).ok  # the mark is the reload's: only 102 is new
    assert ids(project, name) == [1, 2, *range(5, 103)]

    everything = run_flow(flow_of(name, mode), full_refresh=True)
    assert everything.ok, everything.error
    assert set(states(everything).values()) == {"COMPLETED"}
    assert ids(project, "other") == [1, 2, *range(5, 103)]


@pytest.mark.parametrize("failure", ["source", "stage"])
def test_failed_full_refresh_keeps_the_old_table_and_mark(project, events, failure):
    name, engine, table = events
    assert run_flow(flow_of(name, "merge")).ok
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.id == 3))
        conn.execute(table.insert(), [row(101, minutes=1000)])
        if failure == "source":
            conn.execute(sa.text(f"ALTER TABLE {name} RENAME TO {name}_away"))

    failed = run_flow(flow_of(name, "merge", failing=failure == "stage"), full_refresh=True)
    assert not failed.ok
    assert ids(project, name) == list(range(1, 101))
    mark = project.read("raw", f"{name}__load")[0]["high_water"]
    assert mark == row(100)["updated"]

    if failure == "source":
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {name}_away RENAME TO {name}"))
    normal = run_flow(flow_of(name, "merge"))
    assert normal.ok, normal.error
    assert ids(project, name) == list(range(1, 102))  # continued from the old mark: 101 added, 3 kept


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_unknown_task_names_the_flows_sync_tasks(project, events):
    name, _, _ = events
    with pytest.raises(UnknownTaskError) as raised:
        run_flow(flow_of(name, "merge"), full_refresh=["nope"])
    assert (
        str(raised.value)
        == f"flow 'refresh' has no sync task 'nope' (sync tasks: sync_{name}, sync_other); name one of those"
    )


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_cli_full_refresh_of_one_task_and_unknown_task(project):
    from tests.sources import write_shop
    from tests.test_cli import stagehouse

    write_shop(project.files)
    assert stagehouse("run", "files_mart", cwd=project.root).returncode == 0
    refreshed = stagehouse("run", "files_mart", "--full-refresh", "--task", "orders", cwd=project.root)
    assert refreshed.returncode == 0, refreshed.stderr
    rows = {line.split("│")[1].strip(): line for line in refreshed.stdout.splitlines() if line.count("│") >= 5}
    assert "COMPLETED" in rows["sync_orders"] and "CACHE_VALID" in rows["sync_customers"]

    unknown = stagehouse("run", "files_mart", "--full-refresh", "--task", "nope", cwd=project.root)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "Error: flow 'files_mart' has no sync task 'nope' (sync tasks: sync_orders, sync_customers); name one of those"
    )
    alone = stagehouse("run", "files_mart", "--task", "orders", cwd=project.root)
    assert alone.returncode == 1 and "add --full-refresh" in alone.stderr
