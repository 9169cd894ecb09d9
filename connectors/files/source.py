"""Read CSV, JSON/NDJSON and Parquet files from a folder as a stream of Arrow batches.

Files matching a glob are read as one table by DuckDB (columns matched by name across files),
so a folder of daily drops becomes one sync. ``fingerprint`` hashes the matched files' content,
which is what makes an unchanged drop cache-valid on the next run.

Example::

    drops = connect("drops")
    drops.list("orders_*.csv")
    reader = drops.read("orders_*.csv")
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from connectors.base import Connection
from connectors.duckdb_scan import open_duckdb, quote_literal, stream
from connectors.errors import ConnectionConfigError, SourceError
from connectors.files.config import FilesConnectionConfig
from connectors.files.formats import file_format, is_zip

PACKAGE_PREFIX = "package://"
HASH_CHUNK = 1 << 20


def resolve_folder(name: str, path: str, base_dir: Path) -> Path:
    """The folder a ``path`` setting means: ``package://pkg/sub``, absolute, or relative to base_dir."""
    if path.startswith(PACKAGE_PREFIX):
        package, _, sub = path.removeprefix(PACKAGE_PREFIX).partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConnectionConfigError(name, f"path '{path}': no installed Python package '{package}'")
        return Path(next(iter(spec.submodule_search_locations))) / sub
    folder = Path(path).expanduser()
    return folder if folder.is_absolute() else base_dir / folder


class FilesConnection(Connection):
    """A folder of data files named in pipedag.yaml."""

    config: FilesConnectionConfig

    def __init__(self, name: str, config: FilesConnectionConfig, folder: Path) -> None:
        super().__init__(name, config)
        self.folder = folder

    def list(self, pattern: str = "*") -> list[Path]:
        """Files under the folder matching ``pattern`` (a glob, ``**`` recurses), sorted by name."""
        if not self.folder.is_dir():
            raise SourceError(self.name, f"folder '{self.folder}'", "does not exist or is not a folder")
        return sorted(p for p in self.folder.glob(pattern) if p.is_file())

    def _matching(self, pattern: str) -> list[Path]:
        files = self.list(pattern)
        if not files:
            raise SourceError(self.name, f"files '{pattern}'", f"no file matches in folder '{self.folder}'")
        return files

    def read(self, pattern: str, *, format: str | None = None, batch_rows: int | None = None) -> pa.RecordBatchReader:
        """Stream all files matching ``pattern`` as one table."""
        files = self._matching(pattern)
        fmt = format or self.config.format or self._format_of(files, pattern)
        scratch = Path(tempfile.mkdtemp(prefix="stagehouse-unzip-"))
        try:
            paths = [self._unzipped(f, scratch) if is_zip(f) else f for f in files]
            con = open_duckdb()
            reader = stream(
                con,
                self._scan_sql(fmt, paths),
                batch_rows=batch_rows or self.config.batch_rows,
                on_error=lambda exc: SourceError(self.name, f"files '{pattern}'", _first_line(exc)),
            )
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return _removing_after(reader, scratch)

    def fingerprint(self, pattern: str) -> str:
        """A hash of the matching files' names and contents: equal exactly when the data is."""
        digest = hashlib.blake2b(digest_size=16)
        for path in self._matching(pattern):
            digest.update(str(path.relative_to(self.folder)).encode())
            with path.open("rb") as fh:
                while chunk := fh.read(HASH_CHUNK):
                    digest.update(chunk)
        return digest.hexdigest()

    def _format_of(self, files: list[Path], pattern: str) -> str:
        formats = {file_format(f) for f in files}
        if len(formats) != 1 or None in formats:
            raise SourceError(
                self.name,
                f"files '{pattern}'",
                f"cannot tell one format from the names {[f.name for f in files[:5]]}; set format: csv|json|parquet",
            )
        return formats.pop()

    def _unzipped(self, archive: Path, scratch: Path) -> Path:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
            if len(members) != 1:
                raise SourceError(self.name, f"file '{archive.name}'", f"a zip must hold one data file, it holds {len(members)}")
            target = scratch / f"{archive.stem}-{len(list(scratch.iterdir()))}{Path(members[0].filename).suffix}"
            with zf.open(members[0]) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, HASH_CHUNK)
        return target

    def _scan_sql(self, fmt: str, paths: list[Path]) -> str:
        files = "[" + ", ".join(quote_literal(str(p)) for p in paths) + "]"
        if fmt == "csv":
            options = self.config.csv
            args = [f"header = {str(options.header).lower()}", "union_by_name = true"]
            if options.delimiter:
                args.append(f"delim = {quote_literal(options.delimiter)}")
            if options.null_values is not None:
                args.append("nullstr = [" + ", ".join(quote_literal(v) for v in options.null_values) + "]")
            return f"SELECT * FROM read_csv({files}, {', '.join(args)})"
        if fmt == "json":
            return f"SELECT * FROM read_json({files}, union_by_name = true)"
        if fmt == "parquet":
            return f"SELECT * FROM read_parquet({files}, union_by_name = true)"
        raise SourceError(self.name, f"format '{fmt}'", "unknown format; use csv, json or parquet")


def _removing_after(reader: pa.RecordBatchReader, folder: Path) -> pa.RecordBatchReader:
    """The same stream; ``folder`` is deleted once it is read to the end or fails."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else type(exc).__name__
