"""Read CSV, JSON/NDJSON and Parquet files from a local folder as a stream of Arrow batches.

``fingerprint`` hashes the matched files' content, which is what makes an unchanged drop
cache-valid on the next run.

Example::

    drops = connect("drops")
    drops.list("orders_*.csv")
    reader = drops.read("orders_*.csv")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
from pathlib import Path

from stagehouse.connectors.base import ConnectionConfig
from stagehouse.connectors.errors import ConnectionConfigError, SourceError
from stagehouse.connectors.files.config import FilesConnectionConfig
from stagehouse.connectors.files.fileset import FileEntry, FileSetConnection
from stagehouse.connectors.placeholders import expand

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


class FilesConnection(FileSetConnection):
    """A folder of data files on this machine, named in pipedag.yaml."""

    config: FilesConnectionConfig

    def __init__(self, name: str, config: FilesConnectionConfig, folder: Path) -> None:
        super().__init__(name, config)
        self.folder = folder
        self.format, self.csv, self.batch_rows = config.format, config.csv, config.batch_rows

    @classmethod
    def from_config(cls, name: str, config: ConnectionConfig, base_dir: Path) -> FilesConnection:
        assert isinstance(config, FilesConnectionConfig)  # the registry parsed it as this kind's
        return cls(name, config, resolve_folder(name, expand(config.path), base_dir))

    def where(self) -> str:
        return str(self.folder)

    def ping(self) -> None:
        """The folder exists (nothing is read)."""
        if not self.folder.is_dir():
            raise SourceError(self.name, f"folder '{self.folder}'", "does not exist or is not a folder")

    def entries(self) -> list[FileEntry]:
        if not self.folder.is_dir():
            raise SourceError(self.name, f"folder '{self.folder}'", "does not exist or is not a folder")
        found = []
        for path in self.folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None)
                found.append(FileEntry(str(path.relative_to(self.folder)), stat.st_size, modified))
        return found

    def localize(self, entries: list[FileEntry], scratch: Path) -> list[Path]:
        return [self.folder / e.name for e in entries]

    def fingerprint(self, pattern: str) -> str:
        """A hash of the matching files' names and contents: equal exactly when the data is."""
        digest = hashlib.blake2b(digest_size=16)
        for entry in self.matching(pattern):
            digest.update(entry.name.encode())
            with (self.folder / entry.name).open("rb") as fh:
                while chunk := fh.read(HASH_CHUNK):
                    digest.update(chunk)
        return digest.hexdigest()
