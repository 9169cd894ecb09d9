"""A whole number too big for BIGINT in a CSV column DuckDB typed DOUBLE: refused, not rounded.

DuckDB's sniffer types a column from a sample of rows; one value past BIGINT's range
(``12345678901234567891``, an id from another system) makes the whole column DOUBLE, which keeps
about 16 digits: the id lands as ``12345678901234567168`` and two ids can become one. Such a
column is re-read as text over the sniffer's sample, and a whole number beyond 2**53 (where a
DOUBLE stops holding every integer) fails the read, naming file, row, field and the fix: declare
the column's type with ``csv: {types: {id: HUGEINT}}`` (or ``VARCHAR``; ``DOUBLE`` accepts the
rounding). A column the connection types itself is not checked.

Example::

    check_wide_integers("drops", {Path("/data/ev_003.csv"): "ev_003.csv"}, CsvOptions(), reader.schema)
    # CsvValueError: connection 'drops', file 'ev_003.csv': row 1, field 'n': 12345678901234567891 ...
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from stagehouse.connectors.duckdb_scan import open_duckdb
from stagehouse.connectors.errors import CsvFileError
from stagehouse.connectors.files.config import CsvOptions
from stagehouse.connectors.files.csv_checks import csv_options
from stagehouse.connectors.sql_quoting import quote_identifier, quote_literal

SNIFF_SAMPLE_ROWS = 20_480  # DuckDB's read_csv sample_size: the rows that decided the column's type
EXACT_IN_DOUBLE = 2**53


class CsvValueError(CsvFileError):
    """A CSV value the column's sniffed type would change (a whole number rounded by DOUBLE)."""

    def __init__(self, connection: str, file: str, row: int, column: str, value: str) -> None:
        problem = (
            f"row {row}, field '{column}': {value} is a whole number past BIGINT, and the column was read as DOUBLE, "
            f"which would round it; set csv: {{types: {{{column}: HUGEINT}}}} (or VARCHAR) on the connection"
        )
        super().__init__(connection, file, problem, row=row, column=column, value=value)


def check_wide_integers(connection: str, names: dict[Path, str], csv: CsvOptions, schema: pa.Schema) -> None:
    """Raise ``CsvValueError`` for the first whole number beyond 2**53 in a sampled DOUBLE column."""
    declared = set(csv.types or {})
    doubles = [f.name for f in schema if pa.types.is_floating(f.type) and f.name not in declared]
    if not doubles:
        return
    con = open_duckdb()
    try:
        args = ", ".join(csv_options(csv.model_copy(update={"types": None}), lineage=False, rejects=False))
        for path, name in names.items():
            relation = f"read_csv({quote_literal(str(path))}, {args}, all_varchar = true)"
            present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
            for column in (c for c in doubles if c in present):
                found = con.execute(
                    f"SELECT n, v FROM (SELECT row_number() OVER () AS n, trim({quote_identifier(column)}) AS v "
                    f"FROM (SELECT {quote_identifier(column)} FROM {relation} LIMIT {SNIFF_SAMPLE_ROWS})) "
                    "WHERE regexp_full_match(v, '[+-]?[0-9]+') "
                    f"AND coalesce(abs(try_cast(v AS HUGEINT)) > {EXACT_IN_DOUBLE}, true) ORDER BY n LIMIT 1"
                ).fetchone()
                if found is not None:
                    raise CsvValueError(connection, name, int(found[0]), column, found[1])
    finally:
        con.close()
