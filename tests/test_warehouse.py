"""The warehouse client on the table store (DuckDB and PostgreSQL): reads, writes, metadata."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

from stagehouse.connectors import UnsafeIdentifierError, WarehouseError


@pytest.fixture
def wh(project):
    with project.warehouse() as warehouse:
        yield warehouse


def test_write_creates_adds_columns_upserts_and_skips_unchanged_rows(wh):
    first = wh.write(
        "crm", "contacts", [{"id": 1, "name": "Ada", "score": 1.5}, {"id": 2, "name": "Bob", "score": 2.0}], pk="id"
    )
    assert first == {"inserted": 2, "updated": 0, "unchanged": 0}

    second = wh.write(
        "crm",
        "contacts",
        [
            {"id": 1, "name": "Ada", "score": 1.5},
            {"id": 2, "name": "Bobby", "score": 2.0},
            {"id": 3, "name": "Cy", "vip": True},
        ],
        pk="id",
    )

    assert second == {"inserted": 1, "updated": 1, "unchanged": 1}
    rows = sorted(wh.fetch("crm", "contacts"), key=lambda r: r["id"])
    assert rows == [
        {"id": 1, "name": "Ada", "score": 1.5, "vip": None},
        {"id": 2, "name": "Bobby", "score": 2.0, "vip": None},
        {"id": 3, "name": "Cy", "score": None, "vip": True},
    ]
    table = wh.get_table("crm", "contacts")
    assert table["primary_key"] == ["id"]
    assert [f["name"] for f in table["fields"]] == ["id", "name", "score", "vip"]


def test_write_casts_to_object_schema_and_refuses_repeated_keys(wh):
    schema = {
        "properties": {
            "id": {"type": "integer"},
            "amount": {"type": "number"},
            "at": {"type": "string", "format": "date-time"},
        }
    }
    wh.write("crm", "payments", [{"id": "7", "amount": "12.5", "at": "2024-03-01T10:00:00Z"}], schema, pk="id")
    row = wh.fetch("crm", "payments")[0]
    assert row["id"] == 7 and row["amount"] == 12.5 and row["at"] == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)

    with pytest.raises(WarehouseError, match=r"crm\.payments.*repeat the key \{'id': 8\}"):
        wh.write("crm", "payments", [{"id": 8, "amount": 1.0}, {"id": 8, "amount": 2.0}], pk="id")
    assert [r["id"] for r in wh.fetch("crm", "payments")] == [7]


def test_insert_update_upsert_keep_other_columns_and_never_add_columns(wh):
    wh.write("crm", "notes", [{"id": 1, "text": "call", "owner": "ana"}], pk="id")

    assert wh.upsert("crm", "notes", 1, {"text": "call back"}) == "updated"
    assert wh.upsert("crm", "notes", 1, {"text": "call back"}) == "unchanged"
    assert wh.upsert("crm", "notes", 2, {"text": "new"}) == "inserted"
    assert wh.insert("crm", "notes", [{"id": 3, "text": "x", "owner": "bo"}]) == 1
    assert wh.update("crm", "notes", 3, {"owner": "cy"}) is True

    rows = {r["id"]: r for r in wh.fetch("crm", "notes")}
    assert rows[1] == {"id": 1, "text": "call back", "owner": "ana"}
    assert rows[2] == {"id": 2, "text": "new", "owner": None}
    assert rows[3]["owner"] == "cy"
    with pytest.raises(WarehouseError) as unknown:
        wh.upsert("crm", "notes", 1, {"colour": "red"})
    assert str(unknown.value) == (
        "connection 'warehouse', table 'crm.notes': no column 'colour' (columns: id, text, owner); write() adds "
        "columns, insert/update/upsert never do"
    )
    with pytest.raises(
        WarehouseError,
        match=r"table 'crm\.notes': no columns 'txt', 'ownr'; did you mean text or owner\? \(columns: id, text, "
        r"owner\); write\(\)",
    ):
        wh.insert("crm", "notes", {"id": 4, "txt": "x", "ownr": "ana"})
    with pytest.raises(WarehouseError, match="no row with id = 99"):
        wh.update("crm", "notes", 99, {"text": "?"})


def test_fetch_options_shape_the_result(wh):
    at = dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)
    wh.write("crm", "events", [{"id": 1, "label": None, "at": at}, {"id": 2, "label": "b", "at": None}], pk="id")
    query = "SELECT * FROM crm.events ORDER BY id"

    records = wh.fetch(
        query=query, fillna_with="", fillnat_with="never", enable_datetime_as_string=True, tz="Europe/Brussels"
    )
    assert records == [
        {"id": 1, "label": "", "at": "2024-01-02T13:00:00.000000+0100"},
        {"id": 2, "label": "b", "at": "never"},
    ]
    frame = wh.fetch(query=query, df=True)
    assert isinstance(frame, pd.DataFrame) and list(frame["id"]) == [1, 2]
    assert isinstance(wh.fetch(query=query, polars=True), pl.DataFrame)
    assert wh.fetch(query=query, enable_python_types=False)[0]["at"] == "2024-01-02T12:00:00.000000+0000"


def test_descriptions_are_database_comments_and_saved_queries_are_views_or_tables(wh):
    wh.write("crm", "contacts", [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}], pk="id")
    wh.update_table("crm", "contacts", "People we sell to")
    wh.update_field("crm", "contacts", "name", "Full name")
    wh.refresh()
    table = wh.get_table("crm", "contacts")
    assert table["description"] == "People we sell to"
    assert {f["name"]: f["description"] for f in table["fields"]} == {"id": None, "name": "Full name"}

    wh.add_query("reports", "contact_count", "SELECT count(*) AS n FROM crm.contacts")
    wh.upsert_query("reports", "contact_names", "SELECT name FROM crm.contacts", as_view=False)
    assert {(t["name"], t["type"]) for t in wh.list_tables("reports")} == {
        ("contact_count", "VIEW"),
        ("contact_names", "BASE TABLE"),
    }
    wh.write("crm", "contacts", [{"id": 3, "name": "Cy"}], pk="id")
    assert wh.fetch("reports", "contact_count") == [{"n": 3}]
    assert len(wh.fetch("reports", "contact_names")) == 2  # materialized when saved
    with pytest.raises(WarehouseError, match="already exists"):
        wh.add_query("reports", "contact_count", "SELECT 1 AS n")
    assert [q["name"] for q in wh.list_queries()] == ["contact_count", "contact_names"]


def test_names_that_would_inject_sql_are_refused_before_anything_runs(wh):
    wh.write("crm", "contacts", [{"id": 1, "name": "Ada"}], pk="id")
    for bad in ['contacts"; DROP TABLE crm.contacts; --', "contacts; DROP TABLE crm.contacts", "x'--"]:
        with pytest.raises(UnsafeIdentifierError):
            wh.fetch("crm", bad)
    with pytest.raises(UnsafeIdentifierError):
        wh.write("crm", "contacts", [{"id": 2, 'name" text); DROP TABLE crm.contacts; --': 1}], pk="id")
    with pytest.raises(UnsafeIdentifierError):
        wh.update_cell("crm.contacts", "name = 'x' --", 1, "y")
    assert wh.fetch("crm", "contacts") == [{"id": 1, "name": "Ada"}]


def test_first_use_before_any_run_creates_the_store_as_a_run_would(project):
    from stagehouse.connectors import connect

    assert not (project.root / "data").exists()  # a fresh project: no DuckDB folder, no PostgreSQL database
    with connect("warehouse") as wh:
        assert wh.write("crm", "contacts", [{"id": 1, "name": "Ada"}], pk="id") == {
            "inserted": 1,
            "updated": 0,
            "unchanged": 0,
        }
        assert wh.fetch("crm", "contacts") == [{"id": 1, "name": "Ada"}]
    assert project.read("crm", "contacts") == [{"id": 1, "name": "Ada"}]


@pytest.mark.parametrize("instance", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_missing_store_the_instance_may_not_create_is_named_with_the_fix(project):
    import yaml

    from stagehouse.connectors import connect

    document = yaml.safe_load(project.config_file.read_text())
    document["instances"]["postgres"]["table_store"]["args"]["create_database_if_not_exists"] = False
    project.config_file.write_text(yaml.safe_dump(document))
    with connect("warehouse") as wh, pytest.raises(WarehouseError) as failure:
        wh.fetch(query="SELECT 1 AS one")
    assert str(failure.value) == (
        f"connection 'warehouse', table store of instance 'postgres': database '{project.instance_id}' does not exist; "
        "run a flow first, or set create_database_if_not_exists: true under the instance's table_store.args"
    )


def test_execute_returns_a_querys_rows_or_the_changed_row_count(wh):
    wh.write("crm", "notes", [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}, {"id": 3, "text": "c"}], pk="id")

    assert wh.execute("UPDATE crm.notes SET text = 'x' WHERE id >= :low", {"low": 2}) == 2
    assert wh.execute("INSERT INTO crm.notes (id, text) VALUES (4, 'd'), (5, 'e')") == 2
    assert wh.execute("DELETE FROM crm.notes WHERE id = 5") == 1
    assert wh.execute("SELECT id, text FROM crm.notes WHERE text = :t ORDER BY id", {"t": "x"}) == [
        {"id": 2, "text": "x"},
        {"id": 3, "text": "x"},
    ]
    assert wh.execute("INSERT INTO crm.notes (id, text) VALUES (6, 'f') RETURNING id") == [{"id": 6}]


def test_execute_of_ddl_returns_zero(wh):
    assert wh.execute("CREATE SCHEMA IF NOT EXISTS crm") == 0
    assert wh.execute("CREATE TABLE crm.notes (id INTEGER PRIMARY KEY, text VARCHAR)") == 0
    assert wh.execute("ALTER TABLE crm.notes ADD COLUMN owner VARCHAR") == 0
    assert wh.execute("COMMENT ON TABLE crm.notes IS 'Notes'") == 0
    assert wh.execute("CREATE VIEW crm.note_texts AS SELECT text FROM crm.notes") == 0
    assert wh.execute("INSERT INTO crm.notes (id, text) VALUES (1, 'a')") == 1
    assert wh.execute("DROP VIEW crm.note_texts") == 0
    assert wh.execute("SELECT id, owner FROM crm.notes") == [{"id": 1, "owner": None}]


def test_list_schemas_and_tables_leave_out_pipedags_own_unless_asked(project):
    from stagehouse.flows import load_flow, run_flow
    from tests.sources import write_shop

    write_shop(project.files)
    report = run_flow(load_flow("files_mart"))
    assert report.ok, report.error
    with project.warehouse() as wh:
        visible, everything = wh.list_schemas(), wh.list_schemas(internal=True)
        tables, all_tables = wh.list_tables(), wh.list_tables(internal=True)

    default = {"local": "main", "postgres": "public"}[project.instance]
    assert visible == sorted([default, "mart", "raw"])
    assert {"pipedag_metadata", "stagehouse_meta"} <= set(everything)
    assert {
        s for s in everything if s.startswith("raw__")
    }  # the stage's copies: __even/__odd (DuckDB), __tmp (PostgreSQL)
    assert {t["schema"] for t in tables} <= set(visible) and {"raw", "mart"} <= {t["schema"] for t in tables}
    assert {t["schema"] for t in all_tables} - set(visible)  # internal=True keeps the bookkeeping


def test_fetch_of_a_missing_table_names_it_the_schemas_and_close_names(wh):
    wh.write("crm", "contacts", [{"id": 1, "name": "Ada"}], pk="id")
    schemas = ", ".join(wh.list_schemas())

    with pytest.raises(WarehouseError) as typo:
        wh.fetch("crm", "contact")
    assert (
        str(typo.value)
        == "connection 'warehouse', table 'crm.contact': does not exist; did you mean crm.contacts? (schemas: "
        f"{schemas})"
    )
    with pytest.raises(WarehouseError) as no_schema:
        wh.fetch("cmr", "contacts")
    assert str(no_schema.value) == f"connection 'warehouse', table 'cmr.contacts': no schema 'cmr' (schemas: {schemas})"
    assert "refresh()" not in str(typo.value)


def test_metadata_verbs_name_a_missing_table_or_field_with_close_names(wh):
    wh.write("crm", "contacts", [{"id": 1, "name": "Ada"}], pk="id")
    schemas = ", ".join(wh.list_schemas())
    missing_table = (
        f"connection 'warehouse', table 'crm.contact': does not exist; did you mean crm.contacts? (schemas: {schemas})"
    )

    for call in (
        lambda: wh.get_table("crm", "contact"),
        lambda: wh.update_table("crm", "contact", "People"),
        lambda: wh.update_field("crm", "contact", "name", "Full name"),
    ):
        with pytest.raises(WarehouseError) as missing:
            call()
        assert str(missing.value) == missing_table
    with pytest.raises(WarehouseError) as no_field:
        wh.update_field("crm", "contacts", "nme", "Full name")
    assert (
        str(no_field.value)
        == "connection 'warehouse', table 'crm.contacts': no column 'nme'; did you mean name? (columns: id, name)"
    )


def test_an_edit_whose_value_does_not_fit_the_column_is_refused_and_reads_keep_working(wh):
    wh.write(
        "crm",
        "orders",
        [
            {
                "id": 1,
                "amount": 10,
                "placed": dt.date(2024, 3, 1),
                "note": "n",
                "paid": False,
                "shipped": dt.datetime(2024, 3, 2, 9, 0),
            }
        ],
        pk="id",
    )

    with pytest.raises(
        WarehouseError,
        match=r"crm\.orders.*'abc' does not fit column 'amount' \((BIGINT|bigint)\); give a whole number",
    ):
        wh.update_cell("crm.orders", "amount", 1, "abc")
    with pytest.raises(WarehouseError, match=r"12345 does not fit column 'note' \(.*\); give a string"):
        wh.update_cell("crm.orders", "note", 1, 12345)  # it would reach the app as a number
    with pytest.raises(WarehouseError, match=r"\{'a': 1\} does not fit column 'note'"):
        wh.update_cell("crm.orders", "note", 1, {"a": 1})
    with pytest.raises(WarehouseError, match=r"1 does not fit column 'paid' \((BOOLEAN|boolean)\); give True or False"):
        wh.update_cell("crm.orders", "paid", 1, 1)
    with pytest.raises(WarehouseError, match=r"crm\.orders': no column 'amont'; did you mean amount\?"):
        wh.update_cell("crm.orders", "amont", 1, 3)
    with pytest.raises(WarehouseError, match=r"2.5 does not fit column 'amount' .*; give a whole number"):
        wh.update_cell("crm.orders", "amount", 1, 2.5)  # DuckDB would round it, the app would get 2.5
    with pytest.raises(WarehouseError, match=r"'someday' does not fit column 'placed'"):
        wh.insert_row("crm.orders", {"id": 2, "amount": 5, "placed": "someday"})

    assert wh.list_changes("crm.orders") == []
    wh.update_cell("crm.orders", "amount", 1, 12)
    wh.update_cell("crm.orders", "note", 1, None)
    wh.insert_row("crm.orders", {"id": 2, "amount": 5, "placed": "2024-03-02"})
    assert sorted((r["id"], r["amount"], r["placed"]) for r in wh.fetch("crm", "orders")) == [
        (1, 12, dt.date(2024, 3, 1)),
        (2, 5, dt.date(2024, 3, 2)),
    ]

    wh.update_cell("crm.orders", "shipped", 1, "2024-03-02T10:00:00+02:00")  # a column without a time zone holds UTC
    assert {r["id"]: r["shipped"] for r in wh.fetch("crm", "orders")}[1] == dt.datetime(2024, 3, 2, 8, 0)
    assert wh.list_changes("crm.orders")[-1]["new_value"] == '"2024-03-02T08:00:00Z"'  # the same instant for the app


def test_a_synced_stage_view_refuses_direct_writes_and_takes_edits(project):
    from pydiverse.pipedag import Flow, Stage

    from stagehouse.flows import run_flow
    from stagehouse.tasks import sync
    from tests.sources import write_shop

    write_shop(project.files)
    with Flow("merged") as flow, Stage("raw"):
        sync("files", "customers.csv", name="customers", primary_key="id", mode="merge")
    report = run_flow(flow)
    assert report.ok, report.error
    refusal = (
        "connection 'warehouse', table 'raw.customers': is a view (a synced stage table is a view of the sync's data): "
        "record edits with update_cell/insert_row/delete_row (change log)"
    )

    with project.warehouse() as wh:
        assert {t["name"]: t["type"] for t in wh.list_tables("raw")}["customers"] == "VIEW"
        for write in (
            lambda: wh.update("raw", "customers", 10, {"name": "Y"}),
            lambda: wh.upsert("raw", "customers", 10, {"name": "Y"}),
            lambda: wh.insert("raw", "customers", {"id": 30, "name": "cy"}),
            lambda: wh.write("raw", "customers", [{"id": 10, "name": "Y"}], pk="id"),
        ):
            with pytest.raises(WarehouseError) as refused:
                write()
            assert str(refused.value) == refusal
        assert sorted((r["id"], r["name"]) for r in wh.fetch("raw", "customers", overlay=False)) == [
            (10, "ada"),
            (20, "bob"),
        ]
        wh.update_cell("raw.customers", "name", 10, "Y")
        assert sorted(r["name"] for r in wh.fetch("raw", "customers")) == ["Y", "bob"]


def test_a_value_the_column_cannot_hold_is_a_warehouse_error_naming_the_table(wh):
    wh.write("crm", "notes", [{"id": 1, "text": "a", "score": 1.5}], pk="id")

    for call in (
        lambda: wh.update("crm", "notes", 1, {"score": "abc"}),
        lambda: wh.upsert("crm", "notes", 1, {"score": "abc"}),
        lambda: wh.upsert("crm", "notes", "abc", {"text": "b"}),
    ):
        with pytest.raises(WarehouseError, match=r"^connection 'warehouse', table 'crm\.notes': "):
            call()
    assert wh.fetch("crm", "notes") == [{"id": 1, "text": "a", "score": 1.5}]


def test_fetch_gives_numeric_columns_as_decimals_on_every_store(wh):
    """A declared numeric(10,2) reads as Decimal('99.99') on both stores (PostgreSQL's ADBC driver
    sends text), and an unconstrained numeric keeps every digit."""
    from decimal import Decimal

    wh.execute("CREATE SCHEMA IF NOT EXISTS shop")
    wh.execute("CREATE TABLE shop.totals (id INTEGER, total NUMERIC(10, 2))")
    wh.execute("INSERT INTO shop.totals VALUES (1, 99.99), (2, NULL), (3, -0.5)")

    rows = wh.fetch(query="SELECT id, total FROM shop.totals ORDER BY id")
    assert [row["total"] for row in rows] == [Decimal("99.99"), None, Decimal("-0.50")]
    if wh.engine.dialect.name == "postgresql":  # DuckDB has no unconstrained decimal
        free = wh.fetch(query="SELECT CAST('123.456' AS NUMERIC) AS x UNION ALL SELECT CAST('-7' AS NUMERIC)")
        assert sorted(row["x"] for row in free) == [Decimal("-7"), Decimal("123.456")]


def test_a_discarded_edit_stops_showing_and_a_sent_one_cannot_be_discarded(wh):
    wh.write("crm", "contacts", [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}], pk="id")
    typo = wh.update_cell("crm.contacts", "name", 1, "Adda", user="ana")
    sent = wh.update_cell("crm.contacts", "name", 2, "Bobby", user="ana")
    wh.update_change(sent, "PROCESSED")
    assert [r["name"] for r in sorted(wh.fetch("crm", "contacts"), key=lambda r: r["id"])] == ["Adda", "Bobby"]

    wh.discard_change(typo, user="ben")

    assert [r["name"] for r in sorted(wh.fetch("crm", "contacts"), key=lambda r: r["id"])] == ["Ada", "Bobby"]
    [discarded] = wh.list_changes("crm.contacts", writeback_status="DISCARDED")
    assert (discarded["id"], discarded["error"]) == (typo, "discarded by ben")
    with pytest.raises(
        WarehouseError,
        match=rf"change {sent}: is PROCESSED: only a change that is NOT_PROCESSED, FAILED, CONFLICT can be discarded; "
        r"it is in the app already, so edit the cell back instead",
    ):
        wh.discard_change(sent)


@pytest.mark.parametrize("instance", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_an_edit_of_an_enum_column_is_layered_as_the_enum(project):
    with project.warehouse() as wh:
        wh.execute("CREATE SCHEMA IF NOT EXISTS crm")
        wh.execute("CREATE TYPE crm.tier AS ENUM ('bronze', 'silver', 'gold')")
        wh.execute("CREATE TABLE crm.members (id integer PRIMARY KEY, tier crm.tier)")
        wh.execute("INSERT INTO crm.members VALUES (1, 'bronze'), (2, 'silver')")

        wh.update_cell("crm.members", "tier", 1, "gold")

        assert {r["id"]: r["tier"] for r in wh.fetch("crm", "members")} == {1: "gold", 2: "silver"}


def test_an_edit_of_an_array_column_is_layered_as_the_array(project):
    with project.warehouse() as wh:
        wh.execute("CREATE SCHEMA IF NOT EXISTS crm")
        wh.execute("CREATE TABLE crm.lists (id integer PRIMARY KEY, scores integer[], tags text[])")
        wh.execute(
            "INSERT INTO crm.lists VALUES "
            "(1, ARRAY[1, 2], ARRAY['a']), (2, ARRAY[3], ARRAY['b', 'c']), (3, ARRAY[7], ARRAY['d'])"
        )

        wh.update_cell("crm.lists", "scores", 1, [4, None, 6])
        wh.update_cell("crm.lists", "tags", 2, ["x", 'y, "z"'])
        wh.update_cell("crm.lists", "tags", 3, [])
        with pytest.raises(WarehouseError, match=r"row 1: \['x'\] does not fit column 'scores'"):
            wh.update_cell("crm.lists", "scores", 1, ["x"])

        assert {r["id"]: (list(r["scores"]), list(r["tags"])) for r in wh.fetch("crm", "lists")} == {
            1: ([4, None, 6], ["a"]),
            2: ([3], ["x", 'y, "z"']),
            3: ([7], []),
        }


def test_a_time_without_offset_for_a_zoned_column_is_recorded_as_the_utc_instant_shown(wh):
    """The store reads '10:00' in a TIMESTAMPTZ column as 10:00 UTC; the app must get that instant
    ('…Z'), not a local time it reads in its own zone (and its next sync then types as text)."""
    wh.write("crm", "visits", [{"id": 1, "at": dt.datetime(2024, 2, 1, 9, 0, tzinfo=dt.UTC)}], pk="id")
    wh.update_cell("crm.visits", "at", 1, "2024-02-03T10:00:00")
    assert wh.list_changes("crm.visits")[-1]["new_value"] == '"2024-02-03T10:00:00Z"'
    assert wh.fetch("crm", "visits")[0]["at"] == dt.datetime(2024, 2, 3, 10, 0, tzinfo=dt.UTC)
    wh.update_cell("crm.visits", "at", 1, "2024-02-03T10:00:00+02:00")  # an offset given is kept as given
    assert wh.list_changes("crm.visits")[-1]["new_value"] == '"2024-02-03T10:00:00+02:00"'
    assert wh.fetch("crm", "visits")[0]["at"] == dt.datetime(2024, 2, 3, 8, 0, tzinfo=dt.UTC)
