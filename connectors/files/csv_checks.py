"""CSV rows that disagree with their header: fail naming file and line, or skip and count them.

DuckDB's reader alone lets a ragged file through in odd shapes: its sniffer may take a later line
as the header (``skip``), read the file as one column named after the header line, or fail with
``Error when sniffing file ""``. So every CSV read pins the header to line 1 (``skip = 0``), a
single column whose name holds a likely delimiter is checked file by file, and a failed read is
explained by re-reading each file with ``store_rejects`` — DuckDB's own record of the bad lines —
which gives the file, line and field counts of the first bad row. With ``on_bad_rows: skip`` the
files are read with ``store_rejects`` from the start and the rejected lines are counted.

Example::

    explain_failure("drops", {Path("/tmp/a.csv"): "a.csv"}, CsvOptions(), exc)
    # CsvRowError: connection 'drops', file 'a.csv': line 3 has 2 fields, the header has 3; ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from stagehouse.connectors.duckdb_scan import open_duckdb
from stagehouse.connectors.errors import CsvDialectError, CsvRowError, SourceError
from stagehouse.connectors.files.config import CsvOptions
from stagehouse.connectors.sql_quoting import quote_literal

LIKELY_DELIMITERS = ",;\t|"
COLUMN_COUNT_ERRORS = ("MISSING COLUMNS", "TOO MANY COLUMNS")
FILE_LINE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)
UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
NOT_UTF8 = "not utf-8 encoded"  # DuckDB's words for a file in another encoding
COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
REJECTS = "stagehouse_rejects"
REJECT_SCANS = "stagehouse_reject_scans"


@dataclass
class BadRows:
    """Rows skipped under ``on_bad_rows: skip``, per source file; filled when the stream ends."""

    by_file: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_file.values())


def csv_options(csv: CsvOptions, *, lineage: bool, rejects: bool) -> list[str]:
    """``read_csv`` arguments (after the file list) for these settings."""
    args = [f"header = {str(csv.header).lower()}", "skip = 0"]
    if csv.delimiter:
        args.append(f"delim = {quote_literal(csv.delimiter)}")
    if csv.encoding:
        args.append(f"encoding = {quote_literal(csv.encoding)}")
    if csv.null_values is not None:
        args.append("nullstr = [" + ", ".join(quote_literal(v) for v in csv.null_values) + "]")
    if csv.types:
        args.append(
            "types = {" + ", ".join(f"{quote_literal(c)}: {quote_literal(t)}" for c, t in csv.types.items()) + "}"
        )
    if lineage:
        args.append("filename = true")
    if rejects:
        args += ["store_rejects = true", f"rejects_table = '{REJECTS}'", f"rejects_scan = '{REJECT_SCANS}'"]
    return args


def skipping_sql(paths: list[Path], csv: CsvOptions, lineage: bool) -> str:
    """One ``read_csv`` per file (``store_rejects`` does not combine with ``union_by_name``),
    their columns matched by name."""
    args = ", ".join(csv_options(csv, lineage=lineage, rejects=True))
    return " UNION ALL BY NAME ".join(f"SELECT * FROM read_csv({quote_literal(str(p))}, {args})" for p in paths)


def count_rejects(con: duckdb.DuckDBPyConnection, names: dict[Path, str], into: BadRows) -> None:
    """Add the lines DuckDB rejected in ``con``'s skipping read to ``into``, per source file."""
    found = con.execute(
        f"SELECT s.file_path, count(DISTINCT e.line) FROM {REJECTS} e "
        f"JOIN {REJECT_SCANS} s USING (scan_id, file_id) GROUP BY s.file_path"
    ).fetchall()
    for path, rows in found:
        name = names.get(Path(path), path)
        into.by_file[name] = into.by_file.get(name, 0) + rows


def check_single_column(connection: str, names: dict[Path, str], csv: CsvOptions, schema: pa.Schema) -> None:
    """Refuse files DuckDB read as one column whose header holds a likely delimiter, unless the
    file read with that delimiter is still one column (the delimiter sits inside quotes)."""
    if not csv.header:
        return
    suspects = [c for c in schema.names if any(d in c for d in LIKELY_DELIMITERS if d != csv.delimiter)]
    if not suspects:
        return
    for path, name in names.items():
        columns = _columns(path, csv)
        if columns is None or len(columns) != 1 or columns[0] not in suspects:
            continue
        if (bad := _first_bad_row(connection, path, name, csv)) is not None:
            raise bad
        for delimiter in (d for d in LIKELY_DELIMITERS if d in columns[0] and d != csv.delimiter):
            split = _columns(path, csv.model_copy(update={"delimiter": delimiter}))
            if split is None or len(split) > 1:  # a quoted '"Amount, EUR"' stays one column: no refusal
                raise CsvDialectError(connection, name, columns[0], delimiter)


def explain_failure(connection: str, names: dict[Path, str], csv: CsvOptions, exc: Exception) -> Exception:
    """The error to raise for a failed CSV read: the first bad row of the first file that has one
    (``CsvRowError``), else DuckDB's message naming the file it is about. A UTF-16 file read as
    UTF-8 is named as such first: its NUL bytes would look like short rows."""
    for path, name in names.items():
        if csv.encoding != "utf-16" and _starts_utf16(path):
            fix = "set csv: {encoding: utf-16} on the connection"
            return SourceError(connection, f"file '{name}'", f"it is UTF-16 text (it starts with a UTF-16 mark); {fix}")
        if (bad := _first_bad_row(connection, path, name, csv)) is not None:
            return bad
    text = str(exc)
    named = FILE_LINE.search(text)
    culprit = names.get(Path(named[1].strip()), "") if named else ""
    if not culprit:
        culprit = _failing_file(names, csv) if 'file ""' in text or len(names) > 1 else next(iter(names.values()), "")
    message = _first_lines(exc)
    for path, name in names.items():
        message = message.replace(str(path), name)
    label = f"file '{culprit}'" if culprit else "files"
    if NOT_UTF8 in text:
        message = f"it is not UTF-8 ({message}); set csv: {{encoding: latin-1}} (or utf-16) on the connection"
    return SourceError(connection, label, message.replace('file ""', f'file "{culprit}"'))


def _starts_utf16(path: Path) -> bool:
    """Whether the file starts with a UTF-16 byte order mark (either byte order)."""
    try:
        with path.open("rb") as head:
            return head.read(2) in UTF16_MARKS
    except OSError:
        return False


def _first_bad_row(connection: str, path: Path, name: str, csv: CsvOptions) -> CsvRowError | None:
    """Re-read one file recording rejects; its first row with a wrong field count, if any."""
    con = open_duckdb()
    try:
        con.execute(
            f"SELECT count(*) FROM read_csv({quote_literal(str(path))}, "
            f"{', '.join(csv_options(csv, lineage=False, rejects=True))})"
        ).fetchall()
        row = con.execute(
            f"SELECT line, error_message FROM {REJECTS} WHERE error_type IN {COLUMN_COUNT_ERRORS} ORDER BY line LIMIT 1"
        ).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    if row is None:
        return None
    counts = COUNTS.search(row[1] or "")
    expected, found = (int(counts[1]), int(counts[2])) if counts else (None, None)
    return CsvRowError(connection, name, int(row[0]), expected, found)


def _columns(path: Path, csv: CsvOptions) -> list[str] | None:
    """The column names DuckDB's sniffer gives one file (None if it cannot read it)."""
    con = open_duckdb()
    try:
        relation = f"read_csv({quote_literal(str(path))}, {', '.join(csv_options(csv, lineage=False, rejects=False))})"
        return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    except duckdb.Error:
        return None
    finally:
        con.close()


def _failing_file(names: dict[Path, str], csv: CsvOptions) -> str:
    """The first file DuckDB cannot sniff on its own ("" if each can)."""
    return next((name for path, name in names.items() if _columns(path, csv) is None), "")


def _first_lines(exc: Exception) -> str:
    lines = [line if len(line) <= 200 else line[:200] + "…" for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else type(exc).__name__
