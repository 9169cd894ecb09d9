"""What every file-drop connection (a local folder, an SFTP server) does alike.

A subclass lists entries (name, size, modification time) and makes them local; this base class
globs, picks the format, filters incremental reads by modification time or name, and reads the
files as one Arrow stream with DuckDB (``connectors.files.scan``).

Example::

    drops.read("orders_*.csv")
    drops.read("orders_*.csv", after=CursorFilter("_file_mtime", last_synced), lineage=True)
"""

from __future__ import annotations

import builtins
import datetime as dt
import fnmatch
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import pyarrow as pa

from stagehouse.connectors.base import Connection
from stagehouse.connectors.cursor import CursorFilter
from stagehouse.connectors.errors import SourceError
from stagehouse.connectors.files.config import CsvOptions
from stagehouse.connectors.files.csv_checks import BadRows
from stagehouse.connectors.files.formats import file_format
from stagehouse.connectors.files.scan import DataFile, read_files
from stagehouse.connectors.sync_source import SyncRead, SyncRequest, SyncSource

LINEAGE_COLUMNS = {"_file": "name", "_file_mtime": "modified"}


@dataclass(frozen=True)
class FileEntry:
    """A file at the source: path relative to the connection's folder, size, modification time (UTC)."""

    name: str
    size: int
    modified: dt.datetime


def matches(name: str, pattern: str) -> bool:
    """Glob match on the relative path: a pattern without ``/`` matches top-level files only;
    with folders, ``*`` may cross them and ``**/`` also matches no folder at all."""
    if "/" not in pattern:
        return "/" not in name and fnmatch.fnmatchcase(name, pattern)
    return fnmatch.fnmatchcase(name, pattern) or (
        "**/" in pattern and fnmatch.fnmatchcase(name, pattern.replace("**/", ""))
    )


class FileSetConnection(SyncSource, Connection):
    """Base of connections whose objects are files matched by a glob."""

    format: str | None
    csv: CsvOptions
    batch_rows: int

    def where(self) -> str:
        """The folder, for messages."""
        raise NotImplementedError

    def entries(self) -> builtins.list[FileEntry]:
        """Every file under the folder (recursively)."""
        raise NotImplementedError

    def localize(self, entries: builtins.list[FileEntry], scratch: Path) -> builtins.list[Path]:
        """Local paths holding the entries' bytes (downloaded into ``scratch`` if remote)."""
        raise NotImplementedError

    def list(self, pattern: str = "*") -> builtins.list[FileEntry]:
        """Files matching ``pattern``, sorted by name."""
        return sorted((e for e in self.entries() if matches(e.name, pattern)), key=lambda e: e.name)

    def matching(self, pattern: str) -> builtins.list[FileEntry]:
        files = self.list(pattern)
        if not files:
            raise SourceError(self.name, f"files '{pattern}'", f"no file matches in folder '{self.where()}'")
        return files

    def read(
        self,
        pattern: str,
        *,
        format: str | None = None,
        after: CursorFilter | None = None,
        lineage: bool = False,
        batch_rows: int | None = None,
        bad_rows: BadRows | None = None,
    ) -> pa.RecordBatchReader:
        """Stream all files matching ``pattern`` as one table.

        ``lineage`` adds ``_file`` (relative path) and ``_file_mtime`` columns; ``after`` (on one of
        them) reads only files modified, or named, past the last synced one. With
        ``csv.on_bad_rows: skip``, ``bad_rows`` gets the skipped rows per file once the stream ends.
        """
        entries = self.matching(pattern)
        if after is not None:
            if after.column not in LINEAGE_COLUMNS:
                raise SourceError(
                    self.name,
                    f"files '{pattern}'",
                    f"incremental file syncs use cursor '_file_mtime' or '_file', not '{after.column}'",
                )
            entries = [e for e in entries if _past(getattr(e, LINEAGE_COLUMNS[after.column]), after)]
            if not entries:
                return pa.RecordBatchReader.from_batches(pa.schema([]), [])
        fmt = format or self.format or self._format_of(entries, pattern)
        scratch = Path(tempfile.mkdtemp(prefix="stagehouse-files-"))
        try:
            local = self.localize(entries, scratch)
            files = [DataFile(path, e.name, e.modified) for path, e in zip(local, entries, strict=True)]
            return read_files(
                self.name,
                f"files '{pattern}'",
                files,
                fmt=fmt,
                csv=self.csv,
                batch_rows=batch_rows or self.batch_rows,
                lineage=lineage,
                scratch=scratch,
                bad_rows=bad_rows,
            )
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def sync_read(self, request: SyncRequest) -> SyncRead:
        """The matching files as one stream; an incremental or merge sync adds the lineage
        columns its cursor (``_file_mtime`` or ``_file``) is one of."""
        bad_rows = BadRows()
        reader = self.read(
            request.object_name(), after=request.after, lineage=request.mode != "full", bad_rows=bad_rows
        )
        fmt = self.format or file_format(PurePath(request.object_name()))
        return SyncRead(
            reader,
            f"connection '{self.name}', files '{request.obj}'",
            primary_key=request.key,
            bad_rows=bad_rows,
            fixed_columns=fmt != "json",
        )

    def sync_freshness(self, request: SyncRequest) -> Any:
        return {"files": self.fingerprint(request.object_name())}

    def fingerprint(self, pattern: str) -> str:
        """Names, sizes and modification times of the matching files (override for content)."""
        digest = hashlib.blake2b(digest_size=16)
        for entry in self.matching(pattern):
            digest.update(f"{entry.name}\0{entry.size}\0{entry.modified.isoformat()}\n".encode())
        return digest.hexdigest()

    def _format_of(self, entries: builtins.list[FileEntry], pattern: str) -> str:
        formats = {file_format(Path(e.name)) for e in entries}
        fmt = formats.pop() if len(formats) == 1 else None
        if fmt is None:
            raise SourceError(
                self.name,
                f"files '{pattern}'",
                f"cannot tell one format from the names {[e.name for e in entries[:5]]}; set format: csv|json|parquet",
            )
        return fmt


def _past(value, after: CursorFilter) -> bool:
    last = after.value.replace(tzinfo=None) if isinstance(after.value, dt.datetime) else after.value
    return value >= last if after.inclusive else value > last
