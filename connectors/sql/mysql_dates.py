"""MySQL/MariaDB dates that are no dates (``0000-00-00``, ``2024-00-15``): refused before a read.

MySQL stores them where its ``sql_mode`` allows; DuckDB's MySQL extension reads a zero date as
NULL, so a sync would turn a value into "unknown" without a word. The same description refuses
a decimal wider than 38 digits (``connectors.sql.mysql_decimals``). One query in the source finds
the first such value of the rows to be read (the date columns are taken from the relation's
result description, so a ``query=`` is checked as a table is).

Example::

    refuse_zero_dates(conn, "orders", None)   # SourceError naming the row, field and fix
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from stagehouse.connectors.errors import SourceError
from stagehouse.connectors.sql.mysql_decimals import refuse_wide_decimals

if TYPE_CHECKING:
    from stagehouse.connectors.sql.source import SqlConnection

MYSQL_BACKENDS = frozenset({"mysql", "mariadb"})
DATE_TYPE_CODES = frozenset({7, 10, 12, 14})  # the MySQL protocol's TIMESTAMP, DATE, DATETIME, NEWDATE


def refuse_zero_dates(conn: SqlConnection, table: str | None, query: str | None, named: str | None = None) -> None:
    """Raise SourceError for the first zero or incomplete date in ``table`` or ``query``; ``named``:
    the source table a query reads (an incremental or merge delta), which names it and its row."""
    quote = conn.engine.dialect.identifier_preparer.quote
    if table is not None:
        schema, name = conn.split_table(table)
        relation = ".".join(quote(part) for part in (schema, name) if part)
    else:
        relation = f"({query}) AS q"
    named = named or table
    obj = f"table '{named}'" if named else "query"
    key = (conn.primary_key(named) if named is not None else None) or None
    try:
        with conn.engine.connect() as db:
            # the driver's own cursor, given no parameters, sends the text as it is ('%' in a
            # LIKE stays '%'); SQLAlchemy's would have the driver format it
            dbapi = db.connection.dbapi_connection
            assert dbapi is not None  # an open connection's
            cursor = dbapi.cursor()
            cursor.execute(f"SELECT * FROM {relation} LIMIT 0")
            described = cursor.description
            refuse_wide_decimals(conn.name, obj, cursor)
            dates = [column[0] for column in described if column[1] in DATE_TYPE_CODES]
            if not dates:
                return
            key = key or [described[0][0]]
            condition = " OR ".join(f"MONTH({quote(d)}) = 0 OR DAYOFMONTH({quote(d)}) = 0" for d in dates)
            shown = ", ".join(f"CAST({quote(c)} AS CHAR)" for c in [*key, *dates])
            cursor.execute(f"SELECT {shown} FROM {relation} WHERE {condition} LIMIT 1")
            found = cursor.fetchone()
            cursor.close()
    except (sa.exc.SQLAlchemyError, conn.engine.dialect.loaded_dbapi.Error) as exc:
        raise conn._error(obj, exc) from exc
    if found is None:
        return
    row = ", ".join(f"{k} {v}" for k, v in zip(key, found, strict=False))
    field, value = next(
        (d, v)
        for d, v in zip(dates, found[len(key) :], strict=True)
        if v is not None and (v[5:7] == "00" or v[8:10] == "00")
    )
    if value.startswith("0000-00-00"):
        zero = "0000-00-00 00:00:00" if len(value) > 10 else "0000-00-00"
        reads, mode = f"NULLIF({field}, '{zero}') AS {field}", "NO_ZERO_DATE"
    else:  # a month or day of 0 in a real year: NULLIF of one value would not catch the others
        reads = f"CASE WHEN MONTH({field}) = 0 OR DAYOFMONTH({field}) = 0 THEN NULL ELSE {field} END AS {field}"
        mode = "NO_ZERO_IN_DATE"
    raise SourceError(
        conn.name,
        obj,
        f"row {row}, field '{field}': '{value}' is not a date (it would land as NULL); sync a query= that reads "
        f"{reads} (or fix the rows in the source; sql_mode {mode} keeps new ones out)",
    )
