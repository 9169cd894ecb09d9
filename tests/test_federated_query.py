"""One statement joining a PostgreSQL table, a MariaDB table and a store table (real servers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from stagehouse.connectors import FederatedQueryError, SourceUnavailableError, query
from tests.conftest import sqlalchemy_url

STAGEHOUSE = str(Path(sys.executable).with_name("stagehouse"))


@pytest.fixture
def three_sources(project, pg_url, mysql_url):
    """customers in PostgreSQL, orders in MariaDB, regions in the store; returns the names."""
    suffix = uuid.uuid4().hex[:8]
    schema, orders = f"fed_{suffix}", f"fed_orders_{suffix}"
    pg = sa.create_engine(sqlalchemy_url(pg_url))
    maria = sa.create_engine(sqlalchemy_url(mysql_url))
    with pg.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        conn.execute(sa.text(f"CREATE TABLE {schema}.customers (id INT PRIMARY KEY, name TEXT, region_id INT)"))
        conn.execute(sa.text(f"INSERT INTO {schema}.customers VALUES (1, 'Ada', 10), (2, 'Bea', 20), (3, 'Cy', 10)"))
    with maria.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {orders} (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10,2))"))
        conn.execute(sa.text(f"INSERT INTO {orders} VALUES (1, 1, 10.50), (2, 1, 4.50), (3, 2, 7.00), (4, 3, 1.25)"))
    with project.warehouse() as wh:
        wh.write("ref", "regions", [{"id": 10, "region": "north"}, {"id": 20, "region": "south"}], pk="id")
    yield schema, orders
    with pg.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    with maria.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {orders}"))
    pg.dispose()
    maria.dispose()


def revenue_sql(schema: str, orders: str) -> str:
    return (
        f"SELECT r.region, sum(o.total) AS revenue, count(*) AS orders "
        f"FROM pg.{schema}.customers c JOIN mysql.test.{orders} o ON o.customer_id = c.id "
        f"JOIN warehouse.ref.regions r ON r.id = c.region_id GROUP BY r.region ORDER BY r.region"
    )


def test_one_statement_joins_postgres_mariadb_and_the_store(three_sources):
    rows = query(revenue_sql(*three_sources)).to_pylist()
    assert [(r["region"], float(r["revenue"]), r["orders"]) for r in rows] == [("north", 16.25, 3), ("south", 7.0, 1)]


def test_query_command_prints_csv_json_and_a_table(project, three_sources):
    def stagehouse(*args):
        return subprocess.run(
            [STAGEHOUSE, "query", revenue_sql(*three_sources), *args],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "200"},
        )

    csv = stagehouse("--format", "csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ["region,revenue,orders", "north,16.25,3", "south,7.00,1"]
    records = json.loads(stagehouse("--format", "json").stdout)
    assert [(r["region"], r["orders"]) for r in records] == [("north", 3), ("south", 1)]
    table = stagehouse()
    assert "north" in table.stdout and "2 rows" in table.stdout


def test_errors_name_the_connections_and_the_problem(project, three_sources):
    schema, _ = three_sources
    with pytest.raises(FederatedQueryError, match=r"query over pg, warehouse: .*no_such_table"):
        query(f"SELECT * FROM pg.{schema}.customers c JOIN warehouse.ref.no_such_table t ON t.id = c.id")
    with pytest.raises(FederatedQueryError, match=r"query over none \(name a connection as catalog.schema.table\)"):
        query("SELECT * FROM customers")
    if project.instance == "local":
        with project.warehouse() as wh:
            wh.fetch("ref", "regions")  # the store's DuckDB file is now open in this process
            with pytest.raises(SourceUnavailableError, match=r"connection 'warehouse'.*open in this process"):
                query("SELECT * FROM warehouse.ref.regions")
