"""Read local data files as one Arrow stream with DuckDB's CSV, JSON and Parquet readers.

Columns are matched by name across files; gz and zst are read natively, a zip holding one file is
unpacked into the scratch folder first. With lineage, each row carries the source file's name and
modification time, which is what an incremental file sync derives its cursor from.

Example::

    read_files("drops", "files '*.csv'", files, fmt="csv", csv=CsvOptions(), batch_rows=65536,
               lineage=False, scratch=Path("/tmp/x"))
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from stagehouse.connectors.duckdb_scan import open_duckdb, stream
from stagehouse.connectors.errors import SourceError
from stagehouse.connectors.files.config import CsvOptions
from stagehouse.connectors.files.csv_checks import (
    BadRows,
    check_single_column,
    count_rejects,
    csv_options,
    explain_failure,
    skipping_sql,
)
from stagehouse.connectors.files.csv_wide_integers import check_wide_integers
from stagehouse.connectors.files.formats import is_zip
from stagehouse.connectors.sql_quoting import quote_literal

COPY_CHUNK = 1 << 20
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFile:
    """A file to read: its local path now, its name at the source, its modification time."""

    local: Path
    name: str
    modified: dt.datetime


def read_files(
    connection: str,
    label: str,
    files: list[DataFile],
    *,
    fmt: str,
    csv: CsvOptions,
    batch_rows: int,
    lineage: bool,
    scratch: Path,
    bad_rows: BadRows | None = None,
) -> pa.RecordBatchReader:
    """Stream ``files`` as one table; ``scratch`` is removed once the stream ends.

    CSV rows that disagree with the header fail the read (``CsvRowError``), or with
    ``csv.on_bad_rows: skip`` are left out and counted into ``bad_rows`` when the stream ends.
    """
    paths = [_unzipped(connection, f.local, scratch) if is_zip(f.local) else f.local for f in files]
    names = {path: f.name for path, f in zip(paths, files, strict=True)}
    skipping = fmt == "csv" and csv.on_bad_rows == "skip"
    sql = skipping_sql(paths, csv, lineage) if skipping else _reader_sql(connection, fmt, paths, csv, lineage)
    if lineage:
        mapping = ", ".join(
            f"({quote_literal(str(path))}, {quote_literal(f.name)}, TIMESTAMP "
            f"{quote_literal(f.modified.replace(tzinfo=None).isoformat(sep=' '))})"
            for path, f in zip(paths, files, strict=True)
        )
        sql = (
            f"SELECT r.* EXCLUDE (filename), m._file, m._file_mtime FROM ({sql}) r "
            f"JOIN (VALUES {mapping}) m(path, _file, _file_mtime) ON r.filename = m.path"
        )
    con = open_duckdb()
    counted = BadRows() if bad_rows is None else bad_rows

    def release() -> None:
        try:
            if skipping:
                count_rejects(con, names, counted)
                if counted.total:
                    logger.warning(
                        "connection '%s', %s: skipped %d bad rows (%s)",
                        connection,
                        label,
                        counted.total,
                        ", ".join(f"{name}: {rows}" for name, rows in counted.by_file.items()),
                    )
        except duckdb.Error:  # the read failed before DuckDB made its rejects tables
            pass
        finally:
            con.close()

    if fmt == "csv":
        on_error = lambda exc: explain_failure(connection, names, csv, exc)  # noqa: E731
    else:
        on_error = lambda exc: SourceError(connection, label, _first_lines(exc))  # noqa: E731
    reader = stream(con, sql, batch_rows=batch_rows, on_error=on_error, release=release)
    if fmt == "csv":
        try:
            check_single_column(connection, names, csv, reader.schema)
            check_wide_integers(connection, names, csv, reader.schema)
        except BaseException:
            con.close()
            raise
    return _removing_after(reader, scratch)


def _reader_sql(connection: str, fmt: str, paths: list[Path], csv: CsvOptions, lineage: bool) -> str:
    files = "[" + ", ".join(quote_literal(str(p)) for p in paths) + "]"
    common = ["union_by_name = true"] + (["filename = true"] if lineage else [])
    if fmt == "csv":
        return (
            f"SELECT * FROM read_csv({files}, "
            f"{', '.join(['union_by_name = true', *csv_options(csv, lineage=lineage, rejects=False)])})"
        )
    if fmt == "json":
        return f"SELECT * FROM read_json({files}, {', '.join(common)})"
    if fmt == "parquet":
        return f"SELECT * FROM read_parquet({files}, {', '.join(common)})"
    raise SourceError(connection, f"format '{fmt}'", "unknown format; use csv, json or parquet")


def _unzipped(connection: str, archive: Path, scratch: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        if len(members) != 1:
            raise SourceError(
                connection, f"file '{archive.name}'", f"a zip must hold one data file, it holds {len(members)}"
            )
        target = scratch / f"{archive.stem}-{len(list(scratch.iterdir()))}{Path(members[0].filename).suffix}"
        with zf.open(members[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, COPY_CHUNK)
    return target


def _removing_after(reader: pa.RecordBatchReader, folder: Path) -> pa.RecordBatchReader:
    """The same stream; ``folder`` is deleted once it is read to the end or fails."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _first_lines(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else type(exc).__name__
