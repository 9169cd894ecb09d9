"""Sync from real PostgreSQL and MariaDB sources into every table store."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.connectors import SourceError, SourceUnavailableError, connect
from stagehouse.flows import run_flow
from stagehouse.tasks import StoreWriteError, sync
from tests.conftest import sqlalchemy_url

ROWS = [
    {
        "id": 1,
        "name": "ada",
        "amount": Decimal("10.50"),
        "ratio": 0.25,
        "happened": dt.datetime(2024, 1, 2, 3, 4, 5),
        "flag": True,
        "note": None,
    },
    {
        "id": 2,
        "name": "bob",
        "amount": Decimal("-3.00"),
        "ratio": None,
        "happened": dt.datetime(2024, 2, 3, 4, 5, 6),
        "flag": False,
        "note": "x",
    },
    {"id": 3, "name": "cy's", "amount": None, "ratio": 1e10, "happened": None, "flag": None, "note": "ünï"},
]


@pytest.fixture(params=["pg", "mysql"])
def source(request):
    """(connection name, table name, engine) of a fresh table in a real PostgreSQL or MariaDB."""
    url = request.getfixturevalue("pg_url" if request.param == "pg" else "mysql_url")
    engine = sa.create_engine(sqlalchemy_url(url))
    table_name = f"sh_src_{uuid.uuid4().hex[:8]}"
    metadata = sa.MetaData()
    table = sa.Table(
        table_name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(50)),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("ratio", sa.Double),
        sa.Column("happened", sa.DateTime),
        sa.Column("flag", sa.Boolean),
        sa.Column("note", sa.Text),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    yield request.param, table_name, engine, table
    metadata.drop_all(engine)
    engine.dispose()


def one_sync_flow(*args, **kwargs) -> Flow:
    with Flow("sql_sync") as flow:
        with Stage("raw"):
            sync(*args, **kwargs)
    return flow


def normalized(rows: list[dict]) -> list[dict]:
    """Values as a user compares them: decimals as floats, booleans as bools."""
    out = []
    for row in rows:
        out.append(
            {
                key: (
                    float(value)
                    if isinstance(value, Decimal)
                    else bool(value)
                    if key == "flag" and value is not None
                    else value
                )
                for key, value in row.items()
            }
        )
    return out


def test_sync_table_copies_rows_types_and_key(project, source):
    connection, table, engine, _ = source
    report = run_flow(one_sync_flow(connection, table))
    assert report.ok, report.error
    assert normalized(project.read("raw", table, order_by="id")) == normalized(ROWS)
    if project.instance == "postgres":
        store = project.store_engine()
        assert sa.inspect(store).get_pk_constraint(table, schema="raw")["constrained_columns"] == ["id"]
        store.dispose()


def test_source_change_is_picked_up_and_unchanged_source_is_cached(project, source):
    connection, table, engine, sa_table = source
    assert run_flow(one_sync_flow(connection, table)).ok
    assert run_flow(one_sync_flow(connection, table)).tasks[0].state == "CACHE_VALID"

    with engine.begin() as conn:
        conn.execute(sa_table.insert(), [{"id": 4, "name": "dee"}])
    rerun = run_flow(one_sync_flow(connection, table))
    assert rerun.tasks[0].state == "COMPLETED"
    assert [r["name"] for r in project.read("raw", table, order_by="id")] == ["ada", "bob", "cy's", "dee"]


def test_sync_query_in_the_source_dialect(project, source):
    connection, table, _, _ = source
    report = run_flow(
        one_sync_flow(connection, query=f"SELECT id, amount * 2 AS doubled FROM {table} WHERE id < 3", name="doubled")
    )
    assert report.ok, report.error
    assert normalized(project.read("raw", "doubled", order_by="id")) == [
        {"id": 1, "doubled": 21.0},
        {"id": 2, "doubled": -6.0},
    ]


def test_duplicate_primary_key_fails_naming_table_and_value(project, source):
    connection, table, _, _ = source
    query = f"SELECT name FROM {table} UNION ALL SELECT 'ada'"
    report = run_flow(one_sync_flow(connection, query=query, name="names", primary_key="name"))
    assert not report.ok
    assert isinstance(report.error, StoreWriteError)
    assert "names" in str(report.error) and "'ada'" in str(report.error)


def test_unknown_table_is_named(project, source):
    connection, _, _, _ = source
    report = run_flow(one_sync_flow(connection, "no_such_table"))
    assert not report.ok
    assert isinstance(report.error, SourceError)
    assert f"connection '{connection}'" in str(report.error) and "no_such_table" in str(report.error)


def test_query_error_is_named(project, source):
    connection, table, _, _ = source
    report = run_flow(one_sync_flow(connection, query=f"SELECT no_such_column FROM {table}", name="bad"))
    assert not report.ok
    assert isinstance(report.error, SourceError)
    assert f"connection '{connection}'" in str(report.error) and "no_such_column" in str(report.error)


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/test", "mysql://root@127.0.0.1:1/test"])
def test_unreachable_database_is_named_without_password(url, monkeypatch):
    monkeypatch.setenv("SH_TEST_PW", "hunter2")
    conn = connect("down", specs={"down": {"type": "sql", "url": url.replace("@", ":{$SH_TEST_PW}@")}})
    with pytest.raises(SourceUnavailableError) as err:
        conn.read("t")
    assert "connection 'down'" in str(err.value) and "127.0.0.1:1" in str(err.value)
    assert "hunter2" not in str(err.value)


def store_types(project, stage: str, table: str) -> dict[str, str]:
    """Column -> type as the store's own catalog names it (PostgreSQL: ``format_type``, with
    modifiers; DuckDB: ``information_schema``); tables and views alike."""
    engine = project.store_engine()
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                query = (
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = CAST(:rel AS regclass) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
                )
                return dict(conn.execute(sa.text(query), {"rel": f'"{stage}"."{table}"'}).all())
            query = (
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = :s AND table_name "
                "= :t"
            )
            return dict(conn.execute(sa.text(query), {"s": stage, "t": table}).all())
    finally:
        engine.dispose()


def source_types(engine: sa.Engine, table: str) -> dict[str, str]:
    """Column -> declared type in the source's catalog (``numeric(15,2)``, ``varchar(40)``)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = (
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS "
                "regclass) AND attnum > 0"
            )
            return dict(conn.execute(sa.text(query), {"t": table}).all())
        query = (
            "SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = database() AND "
            "table_name = :t"
        )
        return dict(conn.execute(sa.text(query), {"t": table}).all())


def expected_store_type(source_type: str, store: str) -> str:
    """What a store keeps of a source's ``decimal(p,s)``/``varchar(n)``: PostgreSQL both, DuckDB
    the precision and scale (its VARCHAR has no length: ``VARCHAR(40)`` is plain VARCHAR)."""
    kind = source_type.lower()
    modifiers = kind[kind.index("(") :].replace(" ", "") if "(" in kind else ""
    if kind.startswith(("numeric", "decimal")):
        return f"numeric{modifiers}" if store == "postgres" else f"DECIMAL{modifiers}"
    assert kind.startswith(("varchar", "character varying")), kind
    return f"character varying{modifiers}" if store == "postgres" else "VARCHAR"


@pytest.mark.parametrize("mode", ["full", "incremental", "merge"])
def test_precision_scale_and_length_survive_every_sync_mode(project, source, mode):
    """numeric(15,2) stays numeric(15,2) (``4192.40`` reads back with its scale) and varchar(40)
    stays varchar(40) in the store's catalog, for the first load and for a later one."""
    connection, _, engine, _ = source
    table = f"sh_typed_{uuid.uuid4().hex[:8]}"
    metadata = sa.MetaData()
    typed = sa.Table(
        table,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("price", sa.Numeric(15, 2)),
        sa.Column("code", sa.String(40)),
        sa.Column("seq", sa.Integer),
    )
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(typed.insert(), [{"id": 1, "price": Decimal("4192.40"), "code": "a" * 40, "seq": 1}])
        kwargs = {} if mode == "full" else {"mode": mode, "cursor": "seq"}
        assert (report := run_flow(one_sync_flow(connection, table, **kwargs))).ok, report.error
        with engine.begin() as conn:
            conn.execute(typed.insert(), [{"id": 2, "price": Decimal("0.10"), "code": "b", "seq": 2}])
            if mode != "incremental":  # an append-only sync refuses a key it has already
                conn.execute(typed.update().where(typed.c.id == 1).values(price=Decimal("17.50"), seq=3))
        assert (report := run_flow(one_sync_flow(connection, table, **kwargs))).ok, report.error

        declared = source_types(engine, table)
        kept = store_types(project, "raw", table)
        for column in ("price", "code"):
            assert kept[column] == expected_store_type(declared[column], project.instance), (
                column,
                declared[column],
                kept,
            )
        rows = {row["id"]: row for row in project.read("raw", table)}
        assert str(rows[2]["price"]) == "0.10"
        assert str(rows[1]["price"]) == ("4192.40" if mode == "incremental" else "17.50")
    finally:
        metadata.drop_all(engine)
