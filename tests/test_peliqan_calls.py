"""Scripts written against Peliqan's ``pq`` module run as written on the warehouse client (both stores)."""

from __future__ import annotations

import pickle

import pytest

from stagehouse.connectors import DW_NAME, WarehouseError, dbconnect


@pytest.fixture
def wh(project):
    with project.warehouse() as warehouse:
        warehouse.write(
            "crm",
            "products",
            [{"id": 5, "name": "Desk"}, {"id": 6, "name": "Bike"}, {"id": 7, "name": "Pencil"}],
            pk="id",
        )
        yield warehouse


def test_list_changes_takes_status_table_name_and_table_id(wh):
    for row_id, value in [(5, "Lamp"), (6, "Car"), (7, "Pen")]:
        wh.update_cell("crm.products", "name", row_id, value)
    first = wh.list_changes("crm.products")[0]["id"]
    wh.update_change(first, "FAILED")
    table_id = wh.get_table("crm", "products")["id"]

    assert [c["row_pk"] for c in wh.list_changes(table_name="products", status="NOT_PROCESSED")] == ["6", "7"]
    assert len(wh.list_changes(table_name="crm.products", writeback_status=["NOT_PROCESSED", "FAILED"])) == 3
    assert [c["row_pk"] for c in wh.list_changes(table_id=table_id, status=["FAILED"])] == ["5"]
    assert wh.list_changes(table_id=table_id, type=["i", "d"]) == []
    with pytest.raises(WarehouseError, match="status=, not both"):
        wh.list_changes(table_name="products", status="FAILED", writeback_status="FAILED")
    with pytest.raises(WarehouseError, match="table id 999999: does not exist"):
        wh.list_changes(table_id=999999)


def test_update_change_takes_change_id_and_status(wh):
    change = wh.update_cell("crm.products", "name", 5, "Lamp")
    wh.update_change(change_id=change, status="PROCESSED")
    assert wh.list_changes(table_name="products")[0]["writeback_status"] == "PROCESSED"
    wh.update_change(table_name="products", change_id=change, writeback_status="FAILED")
    assert wh.list_changes(table_name="products", status="FAILED")[0]["id"] == change
    with pytest.raises(WarehouseError, match="belongs to table 'crm.products'"):
        wh.update_change(change_id=change, status="PROCESSED", table_name="crm.orders")


def test_dw_name_connects_to_the_store_and_fetch_takes_the_database_first(wh):
    assert DW_NAME == "warehouse"
    with dbconnect(DW_NAME) as dbconn:
        rows = dbconn.fetch(DW_NAME, "crm", "products")
        assert sorted(r["id"] for r in rows) == [5, 6, 7]
        assert dbconn.fetch(DW_NAME, query="SELECT count(*) AS n FROM crm.products") == [{"n": 3}]
        assert dbconn.fetch(DW_NAME, "crm", "products", df=True).shape == (3, 2)
        with pytest.raises(WarehouseError, match="'dw_123' is not this connection's database"):
            dbconn.fetch("dw_123", "crm", "products")


def test_insert_update_upsert_and_execute_take_the_database_first(wh):
    with dbconnect(DW_NAME) as dbconn:  # the reference's calls, as written
        dbconn.insert(DW_NAME, "crm", "products", {"id": 8, "name": "Lamp"})
        assert dbconn.update(DW_NAME, "crm", "products", 8, {"name": "Desk lamp"}) is True
        assert dbconn.upsert(DW_NAME, "crm", "products", 9, {"name": "Chair"}) == "inserted"
        assert dbconn.upsert(dbconn.get_database()["name"], "crm", "products", 9, {"name": "Stool"}) == "updated"
        assert dbconn.execute(DW_NAME, query="SELECT name FROM crm.products WHERE id >= 8 ORDER BY id") == [
            {"name": "Desk lamp"},
            {"name": "Stool"},
        ]
        assert dbconn.execute(DW_NAME, query="DELETE FROM crm.products WHERE id = 9") == 1
        assert dbconn.execute(query="SELECT count(*) AS n FROM crm.products") == [{"n": 4}]

        for call in (
            lambda: dbconn.insert("dw_123", "crm", "products", {"id": 10, "name": "x"}),
            lambda: dbconn.update("dw_123", "crm", "products", 8, {"name": "x"}),
            lambda: dbconn.upsert("dw_123", "crm", "products", 10, {"name": "x"}),
            lambda: dbconn.execute("dw_123", query="DELETE FROM crm.products"),
        ):
            with pytest.raises(WarehouseError, match="'dw_123' is not this connection's database; pass 'warehouse' or"):
                call()
        with pytest.raises(WarehouseError, match="insert: takes the database and 3 arguments at most, not 5"):
            dbconn.insert(DW_NAME, "crm", "products", {"id": 10}, {"id": 11})
    assert sorted(r["id"] for r in wh.fetch("crm", "products")) == [5, 6, 7, 8]


def test_database_and_schema_descriptions_where_the_store_has_comments(wh):
    schema_id = wh.get_schema("crm")["id"]
    if wh.engine.dialect.name == "duckdb":
        with pytest.raises(WarehouseError, match="duckdb has no schema descriptions") as refused:
            wh.update_schema(schema_id=schema_id, description="Sales")
        unpickled = pickle.loads(pickle.dumps(refused.value))
        assert (type(unpickled), str(unpickled), unpickled.connection) == (
            WarehouseError,
            str(refused.value),
            "warehouse",
        )
        with pytest.raises(WarehouseError, match="duckdb has no database descriptions"):
            wh.update_database(description="Our store")
        return
    database = wh.update_database(database_id=wh.get_database()["id"], description="Our store")
    assert database["description"] == "Our store" and database["name"] == wh.engine.url.database
    assert wh.update_schema(schema_id=schema_id, description="Sales")["description"] == "Sales"
    assert wh.get_schema(schema_id=schema_id) == wh.get_schema("crm")
    assert wh.get_schema("crm")["tables"] == [
        {"id": wh.get_table("crm", "products")["id"], "name": "products", "type": "BASE TABLE"}
    ]
    with pytest.raises(WarehouseError, match="schema 'crm': cannot be renamed here"):
        wh.update_schema(schema_id=schema_id, name="my_schema")


def test_tables_and_fields_have_stable_ids(wh):
    table = wh.get_table("crm", "products")
    field_id = next(f["id"] for f in table["fields"] if f["name"] == "name")
    table_meta_data = wh.update_table(table_id=table["id"], description="What we sell")
    field_meta_data = wh.update_field(field_id=field_id, description="Shown on invoices")
    assert (table_meta_data["id"], table_meta_data["description"]) == (table["id"], "What we sell")
    assert field_meta_data == {
        "id": field_id,
        "name": "name",
        "type": table["fields"][1]["type"],
        "nullable": True,
        "primary_key": False,
        "is_pk": False,
        "description": "Shown on invoices",
    }

    again = wh.get_table(table_id=table["id"])
    assert again["id"] == table["id"] and again["name"] == "products"
    assert again["description"] == "What we sell"
    assert {f["name"]: (f["id"], f["description"]) for f in again["all_fields"]} == {
        "id": (table["fields"][0]["id"], None),
        "name": (field_id, "Shown on invoices"),
    }
    assert next(f["name"] for f in again["all_fields"] if f.get("is_pk")) == "id"
    assert wh.get_table(table["id"]) == again  # Peliqan's get_table_columns_and_pk(table_id) passes it positionally
    with pytest.raises(WarehouseError, match=f"field id {table['id']}: does not exist"):
        wh.update_field(field_id=table["id"], description="a table's id is not a field's")


def test_the_stores_database_is_named_by_its_instance_id_on_every_store(wh, project):
    assert [db["name"] for db in wh.list_databases()] == [project.instance_id] == [wh.get_database()["name"]]
    assert sorted(r["id"] for r in wh.fetch(project.instance_id, "crm", "products")) == [5, 6, 7]


def test_list_databases_has_peliqans_shape(wh):
    def get_tables():  # Peliqan's documented snippet, as written
        all_tables = []
        for db in wh.list_databases():
            for table in db["tables"]:
                schema_name = next((s["name"] for s in db["schemas"] if s["id"] == table["schema_id"]), None)
                all_tables.append(
                    {
                        "db_id": db["id"],
                        "schema_id": table["schema_id"],
                        "table_id": table["id"],
                        "db": db["name"],
                        "schema": schema_name,
                        "table": table["name"],
                    }
                )
        return all_tables

    products = [t for t in get_tables() if (t["schema"], t["table"]) == ("crm", "products")]
    assert len(products) == 1
    assert products[0]["table_id"] == wh.get_table("crm", "products")["id"]
    assert products[0]["schema_id"] == wh.get_schema("crm")["id"]
    assert products[0]["db_id"] == wh.get_database()["id"]
    assert all(t["schema"] not in ("information_schema", "pg_catalog") for t in get_tables())


def test_inside_a_run_the_store_is_named_by_its_instance_id_too(project):
    from stagehouse.flows import config_context
    from stagehouse.tasks.connections import connection

    with config_context(project.instance), connection("warehouse") as wh:
        assert wh.get_database()["name"] == project.instance_id
