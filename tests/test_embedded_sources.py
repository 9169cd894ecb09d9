"""SQLite and DuckDB files as sources, the generic SQLAlchemy reader, and sync caching options."""

from __future__ import annotations

import sqlite3

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa
from pydiverse.pipedag import Flow, Stage, Table, materialize

from stagehouse.connectors import SourceError, connect
from stagehouse.connectors.sql.generic import stream_sqlalchemy
from stagehouse.flows import run_flow
from stagehouse.tasks import sync


def make_sqlite(path, rows):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, label TEXT, price REAL, updated TEXT)")
    con.execute("DELETE FROM items")
    con.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()


ITEMS = [(1, "pen", 1.5, "2024-01-01"), (2, "ink", None, "2024-01-02")]


def sqlite_conn(path):
    return connect("lite", specs={"lite": {"type": "sql", "url": f"sqlite:///{path}"}})


def test_sqlite_table_query_and_key(tmp_path):
    make_sqlite(tmp_path / "s.db", ITEMS)
    conn = sqlite_conn(tmp_path / "s.db")
    assert conn.read("items").read_all().to_pylist() == [
        {"id": 1, "label": "pen", "price": 1.5, "updated": "2024-01-01"},
        {"id": 2, "label": "ink", "price": None, "updated": "2024-01-02"},
    ]
    assert conn.read(query="SELECT count(*) AS n FROM items").read_all().to_pylist() == [{"n": 2}]
    assert conn.primary_key("items") == ["id"]
    assert conn.freshness("items", cursor="updated") == {"rows": 2, "max_cursor": "2024-01-02"}


def test_duckdb_file_source(tmp_path):
    con = duckdb.connect(str(tmp_path / "src.duckdb"))
    con.execute(
        "CREATE SCHEMA sales; CREATE TABLE sales.deals AS SELECT range AS id, range * 2 AS amount FROM range(5000)"
    )
    con.close()
    conn = connect(
        "duck", specs={"duck": {"type": "sql", "url": f"duckdb:///{tmp_path / 'src.duckdb'}", "batch_rows": 1000}}
    )
    batches = list(conn.read("sales.deals"))
    assert sum(b.num_rows for b in batches) == 5000 and len(batches) > 1
    assert conn.read(query="SELECT sum(amount) AS s FROM sales.deals").read_all().to_pylist() == [
        {"s": 2 * sum(range(5000))}
    ]


def test_a_source_database_writes_rows_back_but_keeps_no_change_log_nor_metadata(tmp_path):
    """Peliqan's row verbs work on a source (writeback); Stagehouse's own state stays in the store."""
    con = duckdb.connect(str(tmp_path / "src.duckdb"))
    con.execute("CREATE SCHEMA crm; CREATE TABLE crm.notes (id INTEGER PRIMARY KEY, text VARCHAR)")
    con.close()
    with connect("duck", specs={"duck": {"type": "sql", "url": f"duckdb:///{tmp_path / 'src.duckdb'}"}}) as source:
        assert source.insert("crm", "notes", {"id": 1, "text": "call"}) == 1
        assert source.upsert("crm", "notes", 1, {"text": "called"}) == "updated"
        assert source.fetch("crm", "notes") == [{"id": 1, "text": "called"}]
        assert [t["name"] for t in source.list_tables("crm")] == ["notes"]
        assert not any(
            hasattr(source, verb) for verb in ("update_cell", "list_changes", "change_log", "get_table", "add_query")
        )
        assert "stagehouse_meta" not in source.list_schemas(internal=True)


def test_unknown_sqlite_table_is_named(tmp_path):
    make_sqlite(tmp_path / "s.db", ITEMS)
    with pytest.raises(SourceError, match="connection 'lite', table 'nope'"):
        sqlite_conn(tmp_path / "s.db").read("nope")


def test_generic_reader_streams_typed_batches_and_names_type_changes(tmp_path):
    """The fallback for backends without a DuckDB scanner, run against a real SQLite file."""
    make_sqlite(tmp_path / "s.db", [(i, f"x{i}", None if i < 3 else float(i), "d") for i in range(10)])
    engine = sa.create_engine(f"sqlite:///{tmp_path / 's.db'}")
    reader = stream_sqlalchemy(
        engine, sa.text("SELECT id, price FROM items ORDER BY id"), batch_rows=3, on_error=lambda e: e
    )
    batches = list(reader)
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    assert reader.schema.field("price").type == "double"  # first batch all NULL: decided by the next
    assert batches[0].column("price").to_pylist() == [None, None, None]
    assert batches[1].column("price").to_pylist() == [3.0, 4.0, 5.0]

    mixed_query = sa.text("SELECT id, CASE WHEN id = 1 THEN 5 ELSE label END AS label FROM items ORDER BY id DESC")
    mixed = stream_sqlalchemy(
        engine, mixed_query, batch_rows=3, on_error=lambda e: SourceError("lite", "query", str(e))
    )
    with pytest.raises(SourceError, match="column 'label' changed type"):
        list(mixed)
    engine.dispose()


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_cursor_and_explicit_cache_decide_reruns(project, tmp_path):
    db = project.root / "s.db"
    make_sqlite(db, ITEMS)
    version = {"value": "v1"}

    @materialize(input_type=pl.DataFrame, version="1")
    def plain_pipedag_task(items: pl.DataFrame):
        return Table(items.with_columns((pl.col("price") * 2).alias("double_price")), "doubled")

    def build():
        with Flow("caching") as flow:
            with Stage("raw"):
                items = sync("lite", "items", cursor="updated")
                sync("lite", "items", name="items_pinned", cache=lambda: version["value"])
            with Stage("mart"):
                plain_pipedag_task(items)
        return flow

    import yaml

    document = yaml.safe_load(project.config_file.read_text())
    document["instances"]["__any__"]["attrs"]["connections"]["lite"] = {"type": "sql", "url": f"sqlite:///{db}"}
    project.config_file.write_text(yaml.safe_dump(document))

    assert run_flow(build()).ok
    states = lambda report: {t.task: t.state for t in report.tasks}  # noqa: E731

    make_sqlite(db, [(1, "pen", 1.5, "2024-01-01"), (2, "ink", 9.0, "2024-03-01")])  # same count, newer cursor
    second = run_flow(build())
    assert states(second) == {
        "sync_items": "COMPLETED",
        "sync_items_pinned": "CACHE_VALID",
        "plain_pipedag_task": "COMPLETED",
    }
    assert [r["double_price"] for r in project.read("mart", "doubled", order_by="id")] == [3.0, 18.0]

    version["value"] = "v2"
    third = run_flow(build())  # SQLite has no fingerprint: its full syncs reload on every run
    assert states(third) == {
        "sync_items": "COMPLETED",
        "sync_items_pinned": "COMPLETED",
        "plain_pipedag_task": "COMPLETED",
    }
    assert project.read("raw", "items_pinned", order_by="id")[1]["price"] == 9.0
