"""Cache-valid transforms stay cheap, and an edited transform still reruns.

On a DuckDB store a task's input tables are reflected from DuckDB's own catalog
(``connectors.sql.duckdb_reflection``), not by SQLAlchemy's eight pg_catalog queries; the table
must come out exactly as SQLAlchemy's reflection gives it.
"""

from __future__ import annotations

import warnings

import pytest
import sqlalchemy as sa

from stagehouse.connectors.sql.duckdb_reflection import reflected_table
from stagehouse.flows import load_flow, run_flow
from tests.sources import write_shop

FLOW = '''"""Test flow: one SQL and one polars transform over the shop's CSVs."""

import polars as pl
from pydiverse.pipedag import Flow, Stage

from stagehouse.tasks import polars_transform, sql_transform, sync


@sql_transform(primary_key="customer_id")
def totals(orders):
    return f"SELECT customer_id, {SQL_AGGREGATE}(amount) AS amount FROM {{orders}} GROUP BY customer_id"


@polars_transform(primary_key="id")
def names(customers: pl.LazyFrame) -> pl.LazyFrame:
    return customers.select("id", pl.col("name").str.{POLARS_CASE}().alias("name"))


def build_flow():
    with Flow("edited_mart") as flow:
        with Stage("raw"):
            orders = sync("files", "orders.csv", primary_key="order_id")
            customers = sync("files", "customers.csv", primary_key="id")
        with Stage("mart"):
            totals(orders)
            names(customers)
    return flow
'''


def write_flow(project, sql_aggregate: str = "sum", polars_case: str = "to_uppercase") -> None:
    folder = project.root / "flows"
    folder.mkdir(exist_ok=True)
    (folder / "edited_mart.py").write_text(FLOW.format(SQL_AGGREGATE=sql_aggregate, POLARS_CASE=polars_case))


def states(report) -> dict[str, str]:
    return {t.task: t.state for t in report.tasks}


def test_edited_transform_bodies_rerun_and_unedited_ones_stay_cached(project):
    write_shop(project.files)
    write_flow(project)
    assert run_flow(load_flow("edited_mart")).ok
    cached = run_flow(load_flow("edited_mart"))
    assert set(states(cached).values()) == {"CACHE_VALID"}

    write_flow(project, polars_case="to_lowercase")
    polars_edited = run_flow(load_flow("edited_mart"))
    assert polars_edited.ok, polars_edited.error
    assert states(polars_edited) == {
        "sync_orders": "CACHE_VALID",
        "sync_customers": "CACHE_VALID",
        "totals": "CACHE_VALID",
        "names": "COMPLETED",
    }
    assert project.read("mart", "names", order_by="id") == [{"id": 10, "name": "ada"}, {"id": 20, "name": "bob"}]

    write_flow(project, sql_aggregate="max", polars_case="to_lowercase")
    sql_edited = run_flow(load_flow("edited_mart"))
    assert sql_edited.ok, sql_edited.error
    assert states(sql_edited)["totals"] == "COMPLETED" and states(sql_edited)["names"] == "CACHE_VALID"
    assert project.read("mart", "totals", order_by="customer_id") == [
        {"customer_id": 10, "amount": 7},
        {"customer_id": 20, "amount": 11},
    ]


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_cache_valid_run_on_duckdb_reflects_no_table_through_sqlalchemy(project, monkeypatch):
    write_shop(project.files)
    write_flow(project)
    assert run_flow(load_flow("edited_mart")).ok
    reflected = []
    full_reflection = sa.engine.reflection.Inspector.reflect_table

    def counted(self, table, *args, _reflect_info=None, **kwargs):
        if _reflect_info is None:
            reflected.append(table.fullname)
        return full_reflection(self, table, *args, _reflect_info=_reflect_info, **kwargs)

    monkeypatch.setattr(sa.engine.reflection.Inspector, "reflect_table", counted)
    cached = run_flow(load_flow("edited_mart"))
    assert set(states(cached).values()) == {"CACHE_VALID"}
    assert reflected == []


TYPES = [
    "BOOLEAN",
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL(18,3)",
    "DECIMAL(38,0)",
    "DECIMAL(4,1)",
    "NUMERIC",
    "VARCHAR",
    "VARCHAR(20)",
    "TEXT",
    "BLOB",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "TIMESTAMP_S",
    "TIMESTAMP_MS",
    "TIMESTAMP_NS",
    "INTERVAL",
    "UUID",
    "JSON",
    "BIT",
    "TIMETZ",
]


def described(table: sa.Table) -> tuple:
    columns = [
        (
            c.name,
            c.key,
            type(c.type),
            repr(c.type),
            getattr(c.type, "timezone", None),
            c.nullable,
            None if c.server_default is None else str(c.server_default.arg),
            c.comment,
            c.autoincrement,
            c.primary_key,
            c.computed,
            c.identity,
            c.index,
            c.unique,
        )
        for c in table.columns
    ]
    constraints = sorted(repr(type(c)) for c in table.constraints)
    return columns, table.comment, constraints, list(table.primary_key.columns.keys()), table.indexes, table.fullname


def test_quick_reflection_gives_sqlalchemys_table_or_steps_aside():
    engine = sa.create_engine("duckdb:///:memory:")
    statements = [
        "CREATE SCHEMA s",
        'CREATE SCHEMA "Odd Schema"',
        "CREATE TYPE mood AS ENUM ('a', 'b')",
        "CREATE SEQUENCE s.seq",
        f"CREATE TABLE s.t (id INTEGER NOT NULL, {', '.join(f'c{i} {t}' for i, t in enumerate(TYPES))}, "
        "n INTEGER NOT NULL DEFAULT 3, d VARCHAR DEFAULT 'x', ts TIMESTAMP DEFAULT current_timestamp)",
        "CREATE TABLE s.q (id BIGINT DEFAULT nextval('s.seq'), \"Mixed Case\" VARCHAR)",
        "CREATE TABLE s.generated (id INTEGER, g INTEGER GENERATED ALWAYS AS (id + 1))",
        'CREATE TABLE "Odd Schema"."T" (x INTEGER)',
        "CREATE TABLE main.m (x INTEGER)",
        "CREATE VIEW s.v AS SELECT * FROM s.t",
        "CREATE VIEW s.v2 AS SELECT id, c12 FROM s.t",
        "COMMENT ON TABLE s.t IS 'a table'",
        "COMMENT ON VIEW s.v IS 'a view'",
        "COMMENT ON COLUMN s.t.c1 IS 'a column'",
        # the quick path steps aside for these:
        "CREATE TABLE s.with_pk (id INTEGER PRIMARY KEY)",
        "CREATE TABLE s.with_check (k INTEGER CHECK (k > 0))",
        "CREATE TABLE s.with_fk (id INTEGER REFERENCES s.with_pk (id))",
        "CREATE TABLE s.with_enum (m mood)",
        "CREATE TABLE s.with_list (l INTEGER[])",
        "CREATE TABLE s.with_struct (r STRUCT(a INTEGER))",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    quick = [("s", "t"), ("s", "q"), ("s", "generated"), ("Odd Schema", "T"), ("main", "m"), ("s", "v"), ("s", "v2")]
    aside = [
        ("s", "with_pk"),
        ("s", "with_check"),
        ("s", "with_fk"),
        ("s", "with_enum"),
        ("s", "with_list"),
        ("s", "with_struct"),
        ("s", "absent"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duckdb-engine: no reflection of indexes; unknown types
        for schema, name in quick:
            with engine.connect() as conn:
                table = reflected_table(conn, schema, name)
            assert table is not None, f"{schema}.{name}"
            assert described(table) == described(sa.Table(name, sa.MetaData(), schema=schema, autoload_with=engine))
        with engine.connect() as conn:
            assert [reflected_table(conn, schema, name) for schema, name in aside] == [None] * len(aside)
    table = reflected_table(engine.connect(), "s", "t")
    assert table.comment == "a table" and table.c.c1.comment == "a column" and not table.c.n.nullable
