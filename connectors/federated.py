"""One SQL statement across the table store and other SQL connections (a federated query).

A private in-memory DuckDB attaches every connection the statement names as a catalog of that
name — ``warehouse`` is the instance's table store — through DuckDB's postgres, mysql and sqlite
extensions (loaded offline from the ``duckdb-extension-*`` wheels) or as a DuckDB file, all
read-only. The statement is DuckDB SQL; DuckDB pushes filters and projections into each source.

Example::

    rows = query('''
        SELECT c.name, sum(o.total) AS total
        FROM shop.public.customers c
        JOIN erp.erp.orders o ON o.customer_id = c.id
        JOIN warehouse.mart.regions r ON r.id = c.region_id
        GROUP BY ALL''')          # a pyarrow.Table
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from stagehouse.connectors.duckdb_scan import load_extensions, open_duckdb
from stagehouse.connectors.errors import SourceUnavailableError, StagehouseError, first_line
from stagehouse.connectors.registry import WAREHOUSE, connect
from stagehouse.connectors.settings import connection_specs
from stagehouse.connectors.sql.scanners import SCANNERS
from stagehouse.connectors.sql.source import SqlConnection, scrubbed_line
from stagehouse.connectors.sql_quoting import quote_identifier

IN_PROCESS = "Unique file handle conflict"
LOCKED = "Could not set lock"


class FederatedQueryError(StagehouseError):
    """The federated statement failed in DuckDB (bad SQL, unknown table, type mismatch)."""


def named_connections(sql: str, names: list[str]) -> list[str]:
    """The connection names ``sql`` uses as a catalog (``name.schema.table`` or ``"name".…``)."""
    used = []
    for name in names:
        pattern = rf'(?<![\w."])(?:{re.escape(name)}|"{re.escape(name)}")\s*\.'
        if re.search(pattern, sql, flags=re.IGNORECASE):
            used.append(name)
    return used


def attach(con: duckdb.DuckDBPyConnection, connection: SqlConnection) -> None:
    """Attach ``connection`` read-only as the catalog named after it."""
    scanner = SCANNERS.get(connection.backend)
    if scanner is None:
        raise FederatedQueryError(
            f"connection '{connection.name}': a {connection.backend} database cannot be attached to a federated query "
            f"(attachable: {', '.join(SCANNERS)})",
            connection=connection.name,
        )
    try:
        if scanner.extension:
            load_extensions(con, [scanner.extension])
        con.execute(scanner.attach_sql(connection.url, quote_identifier(connection.name)))
    except duckdb.Error as exc:
        text = scrubbed_line(exc, connection.url)
        if IN_PROCESS in text:
            text = "its DuckDB file is open in this process; close that connection first"
        elif LOCKED in text:
            text = "its DuckDB file is in use by another process (a running flow?); retry when it is done"
        raise SourceUnavailableError(connection.name, connection.display_url, text) from exc


def query(
    sql: str,
    *,
    instance: str | None = None,
    specs: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
) -> pa.Table:
    """Run ``sql`` (DuckDB SQL) over the connections it names; the rows as an Arrow table.

    Connections come from ``instance``'s pipedag.yaml (or ``specs``); ``warehouse`` is its store.
    """
    if specs is None:
        specs, base_dir = connection_specs(instance)
    sql_names = [name for name, spec in specs.items() if isinstance(spec, Mapping) and spec.get("type") == "sql"]
    names = named_connections(sql, list(dict.fromkeys([*sql_names, WAREHOUSE])))
    con = open_duckdb()
    opened: list[SqlConnection] = []
    try:
        for name in names:
            connection = connect(name, instance=instance, specs=specs, base_dir=base_dir)
            assert isinstance(connection, SqlConnection)  # the SQL connections and the store
            opened.append(connection)
            attach(con, connection)
        try:
            return con.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            attached = ", ".join(names) or "none (name a connection as catalog.schema.table)"
            raise FederatedQueryError(f"query over {attached}: {first_line(exc)}", connections=names) from exc
    finally:
        con.close()
        for connection in opened:
            connection.close()
