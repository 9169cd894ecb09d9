"""Incremental and merge syncs from real PostgreSQL and MariaDB into every store, schema evolution."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage, materialize

from stagehouse.flows import run_flow
from stagehouse.tasks import sync
from stagehouse.tasks.evolution import SchemaConflictError
from tests.conftest import sqlalchemy_url

T0 = dt.datetime(2024, 1, 1)


@pytest.fixture(params=["pg", "mysql"])
def events(request):
    """(connection, table name, engine, sa.Table) of a fresh ``events`` table with an ``updated`` cursor."""
    url = request.getfixturevalue("pg_url" if request.param == "pg" else "mysql_url")
    engine = sa.create_engine(sqlalchemy_url(url))
    metadata = sa.MetaData()
    table = sa.Table(
        f"sh_ev_{uuid.uuid4().hex[:8]}",
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
    yield request.param, table.name, engine, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
    engine.dispose()


def row(i: int, status: str = "new", minutes: int | None = None, deleted: bool = False) -> dict:
    return {
        "id": i,
        "status": status,
        "amount": i * 10,
        "updated": T0 + dt.timedelta(minutes=minutes or i),
        "deleted": deleted,
    }


def flow_of(*args, **kwargs) -> Flow:
    with Flow("modes") as flow:
        with Stage("raw"):
            sync(*args, **kwargs)
    return flow


def test_incremental_appends_only_rows_past_the_cursor(project, events):
    connection, name, engine, table = events
    first = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert first.ok, first.error
    assert first.tasks[0].rows == 100

    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i) for i in range(101, 111)])
    second = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert second.ok, second.error
    stored = project.read("raw", name, order_by="id")
    assert [r["id"] for r in stored] == list(range(1, 111))

    third = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert third.tasks[0].state == "CACHE_VALID"

    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i) for i in range(111, 116)])
    fourth = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert fourth.ok, fourth.error
    assert [r["id"] for r in project.read("raw", name, order_by="id")] == list(range(1, 116))


def test_merge_upserts_by_key_and_soft_deletes(project, events):
    connection, name, engine, table = events
    spec = dict(mode="merge", cursor="updated", deleted_column="deleted")
    assert run_flow(flow_of(connection, name, **spec)).ok

    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 5).values(status="paid", updated=T0 + dt.timedelta(days=1)))
        conn.execute(table.update().where(table.c.id == 7).values(deleted=True, updated=T0 + dt.timedelta(days=1)))
        conn.execute(table.insert(), [row(200, "new", minutes=2000)])
    report = run_flow(flow_of(connection, name, **spec))
    assert report.ok, report.error
    stored = {r["id"]: r for r in project.read("raw", name)}
    assert len(stored) == 100  # +1 new, -1 deleted, 5 updated in place
    assert report.tasks[0].rows == 100  # as the load record counts them
    assert stored[5]["status"] == "paid"
    assert 7 not in stored and 200 in stored
    assert stored[6]["status"] == "new"


@materialize(version="1")
def refuse(table):
    raise RuntimeError("a later task of the stage failed")


@pytest.mark.parametrize("mode", ["merge", "incremental"])
def test_load_of_a_failed_run_is_undone_and_redone_by_the_next(project, events, mode):
    """The failed run wrote its load into the versions before its stage failed: readers keep the
    committed rows, and the next run removes that load (and reopens the rows it closed) before
    it loads again — no row twice, no update lost, and later loads still exact."""
    connection, name, engine, table = events
    spec = dict(mode=mode, cursor="updated")
    assert run_flow(flow_of(connection, name, **spec)).ok
    committed = project.read("raw", name, order_by="id")
    with engine.begin() as conn:
        if mode == "merge":
            conn.execute(table.update().where(table.c.id == 5).values(status="paid", updated=T0 + dt.timedelta(days=1)))
        conn.execute(table.insert(), [row(300, minutes=3000)])

    with Flow("modes") as failing_flow:
        with Stage("raw"):
            refuse(sync(connection, name, **spec))
    failing = run_flow(failing_flow)
    assert not failing.ok
    assert project.read("raw", name, order_by="id") == committed

    assert run_flow(flow_of(connection, name, **spec)).ok
    stored = project.read("raw", name, order_by="id")
    assert [r["id"] for r in stored] == [*range(1, 101), 300]
    assert [r["id"] for r in stored if r["status"] == "paid"] == ([5] if mode == "merge" else [])

    with engine.begin() as conn:
        conn.execute(table.insert(), [row(301, "paid", minutes=5000)])
    assert run_flow(flow_of(connection, name, **spec)).ok
    stored = project.read("raw", name, order_by="id")
    assert [r["id"] for r in stored] == [*range(1, 101), 300, 301]
    assert [r["id"] for r in stored if r["status"] == "paid"] == ([5, 301] if mode == "merge" else [301])


def test_new_column_is_added_and_types_widen(project, events):
    connection, name, engine, table = events
    assert run_flow(flow_of(connection, name, mode="incremental", cursor="updated")).ok
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN channel VARCHAR(10)"))
        widen = (
            "ALTER TABLE {} MODIFY amount BIGINT"
            if connection == "mysql"
            else "ALTER TABLE {} ALTER COLUMN amount TYPE BIGINT"
        )
        conn.execute(sa.text(widen.format(name)))
        conn.execute(
            sa.text(
                f"INSERT INTO {name} (id, status, amount, updated, channel) VALUES (300, 'new', 9000000000, :u, 'web')"
            ),
            {"u": T0 + dt.timedelta(days=5)},
        )
    report = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert report.ok, report.error
    stored = {r["id"]: r for r in project.read("raw", name)}
    assert stored[300]["amount"] == 9_000_000_000 and stored[300]["channel"] == "web"
    assert stored[1]["channel"] is None and stored[1]["amount"] == 10

    with engine.begin() as conn:  # the next load after a rebuild drops the old generation
        conn.execute(
            sa.text(f"INSERT INTO {name} (id, status, amount, updated, channel) VALUES (301, 'new', 1, :u, 'app')"),
            {"u": T0 + dt.timedelta(days=6)},
        )
    after = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert after.ok, after.error
    assert {r["id"]: r["channel"] for r in project.read("raw", name)}[301] == "app"


def make_amount_text(connection: str, name: str, engine: sa.Engine) -> None:
    """The source's ``amount`` turns into text and a row arrives whose amount is not a number."""
    change = (
        "ALTER TABLE {} MODIFY amount VARCHAR(20)"
        if connection == "mysql"
        else "ALTER TABLE {} ALTER COLUMN amount TYPE VARCHAR(20)"
    )
    with engine.begin() as conn:
        conn.execute(sa.text(change.format(name)))
        conn.execute(
            sa.text(
                f"INSERT INTO {name} (id, status, amount, updated) VALUES (101, 'new', 'lots', :u), (102, 'new', '7', "
                ":u)"
            ),
            {"u": T0 + dt.timedelta(days=5)},
        )


def test_incompatible_type_fails_naming_value_and_keeps_committed(project, events):
    connection, name, engine, table = events
    assert run_flow(flow_of(connection, name, mode="incremental", cursor="updated")).ok
    before = project.read("raw", name, order_by="id")
    make_amount_text(connection, name, engine)

    failing = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert not failing.ok
    assert isinstance(failing.error, SchemaConflictError)
    message = str(failing.error)
    assert message.startswith(f"connection '{connection}', table '{name}', store table '{name}', column 'amount': ")
    assert "'lots'" in message and message.endswith(
        "cast it in the source (a query=, the connection's csv types or an object's types), or set on_type_conflict: "
        "variant on the connection"
    )
    assert pickle.loads(pickle.dumps(failing.error)).fields == failing.error.fields
    assert project.read("raw", name, order_by="id") == before


def test_incompatible_type_lands_in_variant_column_when_configured(project, events):
    import yaml

    connection, name, engine, table = events
    document = yaml.safe_load(project.config_file.read_text())
    document["instances"]["__any__"]["attrs"]["connections"][connection]["on_type_conflict"] = "variant"
    project.config_file.write_text(yaml.safe_dump(document))
    assert run_flow(flow_of(connection, name, mode="incremental", cursor="updated")).ok
    make_amount_text(connection, name, engine)

    report = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert report.ok, report.error
    stored = {r["id"]: r for r in project.read("raw", name)}
    assert stored[101]["amount"] is None and stored[101]["amount__v_text"] == "lots"
    assert stored[102]["amount"] == 7 and stored[102]["amount__v_text"] is None
    assert stored[1]["amount"] == 10 and stored[1]["amount__v_text"] is None


def test_timezone_aware_cursor_and_exact_values_in_merged_rows(project, pg_url):
    """A timestamptz cursor filters the source; merged rows keep their instant and full precision."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_tz_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id INT PRIMARY KEY, at TIMESTAMPTZ, x DOUBLE PRECISION)"))
        conn.execute(
            sa.text(
                f"INSERT INTO {name} SELECT g, timestamptz '2024-01-01 00:00+02' + g * interval '1 hour', g FROM "
                "generate_series(1, 5) g"
            )
        )
    try:
        assert run_flow(flow_of("pg", name, mode="merge", cursor="at")).ok
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (6, timestamptz '2024-06-01 00:00+02', 1234567.891)"))
        report = run_flow(flow_of("pg", name, mode="merge", cursor="at"))
        assert report.ok, report.error
        rows = project.read("raw", name, order_by="id")
        assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
        assert rows[-1]["x"] == 1234567.891  # not squeezed through a 32-bit float
        assert rows[-1]["at"] == dt.datetime(2024, 5, 31, 22, 0, tzinfo=dt.UTC)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {name}"))
        engine.dispose()


def test_merge_of_a_query_keeps_the_newest_row_of_a_repeated_key(project, events):
    """A query (unlike a table with a primary key) may return a key twice: the newest row wins."""
    connection, name, engine, table = events
    spec = dict(
        query=f"SELECT id, status, updated FROM {name}", name="latest", primary_key="id", mode="merge", cursor="updated"
    )
    assert run_flow(flow_of(connection, **spec)).ok

    log = sa.Table(
        f"{name}_log",
        sa.MetaData(),
        sa.Column("id", sa.Integer),
        sa.Column("status", sa.String(20)),
        sa.Column("updated", sa.DateTime),
    )
    log.create(engine)
    try:
        with engine.begin() as conn:
            conn.execute(
                log.insert(),
                [
                    {"id": 3, "status": "paid", "updated": T0 + dt.timedelta(days=2)},
                    {"id": 3, "status": "shipped", "updated": T0 + dt.timedelta(days=3)},
                    {"id": 4, "status": "paid", "updated": T0 + dt.timedelta(days=2)},
                ],
            )
        spec["query"] = f"SELECT id, status, updated FROM {name} UNION ALL SELECT id, status, updated FROM {log.name}"
        report = run_flow(flow_of(connection, **spec))
        assert report.ok, report.error
        stored = project.read("raw", "latest", order_by="id")
        assert [r["id"] for r in stored] == list(range(1, 101))  # one row per key
        assert (stored[2]["status"], stored[3]["status"]) == ("shipped", "paid")
    finally:
        log.drop(engine)


def test_a_query_with_a_colon_in_a_string_literal_syncs_its_delta(project, events):
    """A query is the source's own SQL: ``':'`` inside a string literal is text, not a parameter,
    on the first load and on the delta past the cursor."""
    connection, name, engine, table = events
    spec = dict(
        query=f"SELECT id, status, updated, '{{\"k\":v}}' AS tag FROM {name}",
        name="tagged",
        primary_key="id",
        mode="merge",
        cursor="updated",
    )
    first = run_flow(flow_of(connection, **spec))
    assert first.ok, first.error
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == 5).values(status="refunded", updated=T0 + dt.timedelta(days=9)))
    second = run_flow(flow_of(connection, **spec))
    assert second.ok, second.error
    stored = project.read("raw", "tagged", order_by="id")
    assert len(stored) == 100 and {r["tag"] for r in stored} == {'{"k":v}'}
    assert stored[4]["status"] == "refunded"


def server_now(engine: sa.Engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT now()")).scalar()


def own_client_ports() -> list[int]:
    """Local ports of this process's TCP connections (from Linux's /proc): the connections a run
    in this process left, never another client's of the same server (a parallel test worker)."""
    sockets = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            sockets.add(target.removeprefix("socket:[").removesuffix("]"))
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()  # sl, local_address (hex ip:port), ..., inode (10th)
            if fields[9] in sockets:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def drop_idle_connections(engine: sa.Engine, since) -> int:
    """Close, from the server's side, the idle client connections to the engine's database that
    a run in this process left: on PostgreSQL those idle since a statement after ``since``, on
    MariaDB every sleeping one (its process list tells no times)."""
    ports = own_client_ports()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            return conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state = 'idle' AND state_change >= :since AND client_port IN "
                    ":ports"
                ).bindparams(sa.bindparam("ports", expanding=True)),
                {"since": since, "ports": ports},
            ).scalar()
        sleeping = conn.execute(
            sa.text(
                "SELECT id, host FROM information_schema.processlist WHERE db = DATABASE() AND command = 'Sleep' AND "
                "id <> CONNECTION_ID()"
            )
        ).all()
        ids = [connection_id for connection_id, host in sleeping if int(host.rpartition(":")[2] or 0) in ports]
        for connection_id in ids:
            conn.execute(sa.text(f"KILL {int(connection_id)}"))
        return len(ids)


def test_sync_runs_after_the_source_server_dropped_its_connections(project, events):
    """Source connections are kept per process (pooled engine, attached reader): a connection
    the server closed (a restart, a proxy's idle timeout) is replaced, and the next run in the
    same process still syncs."""
    connection, name, engine, table = events
    admin = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    since = server_now(admin)
    assert run_flow(flow_of(connection, name, mode="merge", cursor="updated")).ok
    engine.dispose()
    assert drop_idle_connections(admin, since) >= 1  # the run left its source connections open
    with admin.begin() as conn:
        conn.execute(table.insert(), [row(101)])
    report = run_flow(flow_of(connection, name, mode="merge", cursor="updated"))
    assert report.ok, report.error
    assert [r["id"] for r in project.read("raw", name, order_by="id")] == list(range(1, 102))


@contextmanager
def committed_record_edit(project, record: str) -> Iterator[tuple[sa.Connection, str, bool]]:
    """A transaction on the store, the relation holding stage ``raw``'s committed ``record`` and
    whether ``raw.record`` is a view of it (a READ_VIEWS store) rather than the table itself."""
    store = project.store_engine()
    try:
        with store.begin() as conn:
            if record not in sa.inspect(conn).get_view_names(schema="raw"):
                yield conn, f'raw."{record}"', False
                return
            definition = conn.execute(
                sa.text(
                    "SELECT view_definition FROM information_schema.views WHERE table_schema = 'raw' AND table_name "
                    f"= '{record}'"
                )
            ).scalar()
            yield conn, definition.rsplit("FROM", 1)[1].strip().rstrip(";"), True
    finally:
        store.dispose()


def test_load_record_from_before_marks_resumes_at_the_committed_maximum(project, events):
    """A load committed without a cursor has a record without ``high_water``: the next
    incremental run resumes at ``max(cursor)`` of the committed rows and writes the mark."""
    connection, name, engine, table = events
    assert run_flow(flow_of(connection, name, mode="incremental", cursor="updated")).ok
    record = f"{name}__load"
    with committed_record_edit(project, record) as (conn, source, behind_view):
        if behind_view:
            conn.execute(sa.text(f'CREATE OR REPLACE VIEW raw."{record}" AS SELECT state FROM {source}'))
        else:
            conn.execute(sa.text(f'ALTER TABLE raw."{record}" DROP COLUMN high_water'))
        assert list(conn.execute(sa.text(f'SELECT * FROM raw."{record}"')).keys()) == ["state"]

    with engine.begin() as conn:
        conn.execute(table.insert(), [row(i) for i in range(101, 106)])
    report = run_flow(flow_of(connection, name, mode="incremental", cursor="updated"))
    assert report.ok, report.error
    assert [r["id"] for r in project.read("raw", name, order_by="id")] == list(range(1, 106))  # none doubled
    assert project.read("raw", record)[0]["high_water"] == T0 + dt.timedelta(minutes=105)


def closed_and_all_versions(project, name: str) -> tuple[int, int]:
    """(closed versions, all versions) of ``name``'s versions table in the store."""
    store = project.store_engine()
    try:
        with store.connect() as conn:
            return tuple(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FILTER (WHERE _sh_to IS NOT NULL), count(*) FROM "
                        f'stagehouse_versions."raw__{name}__g1"'
                    )
                ).one()
            )
    finally:
        store.dispose()


def test_versions_replaced_by_merges_are_deleted_before_they_outgrow_a_tenth_of_the_table(project, events):
    """Each merge closes the versions its delta replaces; closed versions are deleted by a later
    load — on PostgreSQL by the next one, on DuckDB once they are a tenth of the table (its DELETE
    costs the same for few as for many) — so the store never holds much more than the rows."""
    connection, name, engine, table = events
    assert run_flow(flow_of(connection, name, mode="merge", cursor="updated")).ok
    delta = 6  # a merge's cursor is inclusive: each delta re-reads the 3 rows at the last mark
    closed_after_each = []
    for run in range(1, 9):
        changed = [run * 3 + k for k in range(3)]
        with engine.begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.id.in_(changed))
                .values(status=f"run{run}", updated=T0 + dt.timedelta(days=run))
            )
        report = run_flow(flow_of(connection, name, mode="merge", cursor="updated"))
        assert report.ok, report.error
        stored = project.read("raw", name, order_by="id")
        assert len(stored) == 100 and all(stored[i - 1]["status"] == f"run{run}" for i in changed)
        assert report.tasks[0].rows == 100
        closed, versions = closed_and_all_versions(project, name)
        assert versions == 100 + closed
        assert closed <= versions // 10 + delta, f"run {run}: {closed} closed versions kept beside 100 rows"
        closed_after_each.append(closed)
    if project.instance == "postgres":
        assert closed_after_each[1:] == [delta] * 7, closed_after_each
    else:
        assert closed_after_each[1] > closed_after_each[0], closed_after_each  # kept while few
        assert min(closed_after_each[3:]) < max(closed_after_each), closed_after_each  # then deleted


def test_a_column_renamed_at_the_source_is_refused_until_a_full_refresh_or_keep(project, events):
    """A merge after ``status`` became ``state`` would NULL the updated rows' status: refused, the
    committed table kept; a full refresh rebuilds it, ``on_removed_column: keep`` keeps the column."""
    import yaml

    from stagehouse.tasks.errors import RemovedColumnError

    connection, name, engine, table = events
    assert run_flow(flow_of(connection, name, mode="merge", cursor="updated")).ok
    before = project.read("raw", name, order_by="id")
    rename = "ALTER TABLE {} RENAME COLUMN status TO state"
    with engine.begin() as conn:
        conn.execute(sa.text(rename.format(name)))
        conn.execute(
            sa.text(f"UPDATE {name} SET amount = 11, updated = :u WHERE id = 1"), {"u": T0 + dt.timedelta(days=5)}
        )

    failing = run_flow(flow_of(connection, name, mode="merge", cursor="updated"))
    assert isinstance(failing.error, RemovedColumnError), failing.error
    assert str(failing.error).startswith(
        f"connection '{connection}', table '{name}', store table '{name}': column 'status' of the committed table is "
        "no longer in the source (it has: id, state, amount, updated, deleted"
    )
    assert project.read("raw", name, order_by="id") == before

    refreshed = run_flow(flow_of(connection, name, mode="merge", cursor="updated"), full_refresh=True)
    assert refreshed.ok, refreshed.error
    stored = project.read("raw", name, order_by="id")
    assert "status" not in stored[0] and stored[0]["state"] == "new" and stored[0]["amount"] == 11

    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {name} DROP COLUMN deleted"))
        conn.execute(
            sa.text(f"UPDATE {name} SET amount = 12, updated = :u WHERE id = 2"), {"u": T0 + dt.timedelta(days=6)}
        )
    document = yaml.safe_load(project.config_file.read_text())
    document["instances"]["__any__"]["attrs"]["connections"][connection]["on_removed_column"] = "keep"
    project.config_file.write_text(yaml.safe_dump(document))
    kept = run_flow(flow_of(connection, name, mode="merge", cursor="updated"))
    assert kept.ok, kept.error
    stored = {r["id"]: r for r in project.read("raw", name)}
    assert stored[2]["amount"] == 12 and stored[2]["deleted"] is None
    assert stored[3]["deleted"] is not None and not stored[3]["deleted"]  # False; 0 from MariaDB's tinyint(1)
