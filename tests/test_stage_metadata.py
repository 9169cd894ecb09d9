"""Keys declared by syncs and transforms, and descriptions, as the warehouse client sees them after
stage runs, reruns and cache-valid runs (DuckDB and PostgreSQL stores)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage

from stagehouse.flows import run_flow
from stagehouse.tasks import sql_transform, sync
from tests.conftest import sqlalchemy_url


def write_customers(folder, names=("Ada", "Bob", "Cy")) -> None:
    lines = ["id,name,city"] + [f"{i},{name},Oslo" for i, name in enumerate(names, start=1)]
    (folder / "customers.csv").write_text("\n".join(lines) + "\n")


@sql_transform(primary_key="id")
def oslo(customers):
    return f"SELECT id, name FROM {customers} WHERE city = 'Oslo'"


@pytest.fixture
def pg_customers(pg_url):
    """A PostgreSQL source table with a primary key and an ``updated`` cursor (merge syncs)."""
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    name = f"sh_meta_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {name} (id int PRIMARY KEY, name text, city text, updated int)"))
        conn.execute(
            sa.text(f"INSERT INTO {name} VALUES (1, 'Ada', 'Oslo', 1), (2, 'Bob', 'Oslo', 2), (3, 'Cy', 'Oslo', 3)")
        )
    yield engine, name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def customers_flow(mode: str, source: str | None = None) -> Flow:
    with Flow("meta") as flow:
        with Stage("raw"):
            if mode == "full":
                customers = sync("files", "customers.csv", primary_key="id")
            else:  # the key is the source table's own: nobody repeats it
                customers = sync("pg", f"public.{source}", name="customers", mode="merge", cursor="updated")
        with Stage("mart"):
            oslo(customers)
    return flow


def run(flow: Flow):
    report = run_flow(flow)
    assert report.ok, report.error
    return report


def customers_source(project, mode, request):
    """(engine, table) of the PostgreSQL source a merge sync reads; (None, None) for the CSV a full sync reads."""
    if mode == "full":
        write_customers(project.files)
        return None, None
    return request.getfixturevalue("pg_customers")


@pytest.mark.parametrize("mode", ["full", "merge"])
def test_declared_keys_serve_cell_edits_and_get_table_without_pk(project, mode, request):
    run(customers_flow(mode, customers_source(project, mode, request)[1]))

    with project.warehouse() as wh:
        change = wh.update_cell("raw.customers", "name", 2, "Bea")
        assert wh.list_changes("raw.customers")[0]["pk_field"] == "id" and change
        assert {r["id"]: r["name"] for r in wh.fetch("raw", "customers")} == {1: "Ada", 2: "Bea", 3: "Cy"}
        table = wh.get_table("raw", "customers")
        assert table["primary_key"] == ["id"]
        assert [f["name"] for f in table["fields"] if f["primary_key"]] == ["id"]
        assert wh.get_table("mart", "oslo")["primary_key"] == ["id"]


def store_comments(project, schema: str, table: str, field: str) -> tuple[str | None, str | None]:
    """The database's own comments on ``schema.table`` and its column ``field`` (not the client's)."""
    engine = project.store_engine()
    params = {"s": schema, "t": table, "f": field, "rel": f'"{schema}"."{table}"'}
    queries = {
        "duckdb": (
            "SELECT comment FROM duckdb_views() WHERE schema_name = :s AND view_name = :t "
            "UNION ALL SELECT comment FROM duckdb_tables() WHERE schema_name = :s AND table_name = :t",
            "SELECT comment FROM duckdb_columns() WHERE schema_name = :s AND table_name = :t AND column_name = :f",
        ),
        "postgresql": (
            "SELECT obj_description(CAST(:rel AS regclass), 'pg_class')",
            "SELECT col_description(attrelid, attnum) FROM pg_attribute WHERE attrelid = CAST(:rel AS regclass) AND "
            "attname = :f",
        ),
    }
    try:
        with engine.connect() as conn:
            table_query, field_query = queries[engine.dialect.name]
            return conn.execute(sa.text(table_query), params).scalar(), conn.execute(
                sa.text(field_query), params
            ).scalar()
    finally:
        engine.dispose()


def described(project) -> tuple:
    with project.warehouse() as wh:
        table = wh.get_table("raw", "customers")
        seen = (table["description"], {f["name"]: f["description"] for f in table["fields"]}["name"])
    return seen, store_comments(project, "raw", "customers", "name")


@pytest.mark.parametrize("mode", ["full", "merge"])
def test_descriptions_survive_cache_valid_runs_and_rebuilds_of_the_stage(project, mode, request):
    engine, source = customers_source(project, mode, request)
    run(customers_flow(mode, source))
    with project.warehouse() as wh:
        wh.update_table("raw", "customers", "People we sell to")
        wh.update_field("raw", "customers", "name", "Full name")
    expected = (("People we sell to", "Full name"), ("People we sell to", "Full name"))
    assert described(project) == expected

    cached = run(customers_flow(mode, source))
    assert cached.tasks[0].state == "CACHE_VALID"
    assert described(project) == expected

    if mode == "full":
        write_customers(project.files, names=("Ada", "Bob", "Cy", "Dee"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {source} VALUES (4, 'Dee', 'Oslo', 4)"))
    rebuilt = run(customers_flow(mode, source))
    assert rebuilt.tasks[0].state == "COMPLETED"
    assert len(project.read("raw", "customers")) == 4
    assert described(project) == expected
