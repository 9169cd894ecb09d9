"""Files on an SFTP server (paramiko): Peliqan's ``dir`` and ``read_file`` verbs (``pq.sftpconnect``), and the same
glob, format and incremental reading as local folders (``connectors.files.fileset``).

Matching files are downloaded to a scratch folder, streamed chunk by chunk, then read by DuckDB.
An incremental read (by modification time or by name) lists the folder and downloads only the
files past the last synced one.

Example::

    drop = connect("partner_drop")
    drop.dir("/outgoing")            # [{'name': 'orders_01.csv', 'size': 120, 'modified': ..., 'is_dir': False}]
    drop.read_file("orders_01.csv")  # bytes
    drop.read("orders_*.csv")        # Arrow stream of all matching files
"""

from __future__ import annotations

import base64
import datetime as dt
import posixpath
import stat
from functools import cached_property
from pathlib import Path
from typing import Any

from stagehouse.connectors.base import ConnectionConfig
from stagehouse.connectors.errors import SourceError, SourceUnavailableError
from stagehouse.connectors.extras import require
from stagehouse.connectors.files.fileset import FileEntry, FileSetConnection
from stagehouse.connectors.placeholders import expand
from stagehouse.connectors.sftp.config import SftpConnectionConfig
from stagehouse.connectors.sftp.paramiko_extra import paramiko


def _expand_optional(value: str | None) -> str | None:
    return expand(value) if value else None


class SftpConnection(FileSetConnection):
    """An SFTP folder named in pipedag.yaml."""

    config: SftpConnectionConfig

    def __init__(self, name: str, config: SftpConnectionConfig, password: str | None, passphrase: str | None) -> None:
        require(paramiko)
        super().__init__(name, config)
        self._password, self._passphrase = password, passphrase
        self.format, self.csv, self.batch_rows = config.format, config.csv, config.batch_rows

    @classmethod
    def from_config(cls, name: str, config: ConnectionConfig, base_dir: Path) -> SftpConnection:
        assert isinstance(config, SftpConnectionConfig)  # the registry parsed it as this kind's
        resolved = {
            "host": expand(config.host),
            "username": expand(config.username),
            "private_key_path": _expand_optional(config.private_key_path),
        }
        return cls(
            name,
            config.model_copy(update=resolved),
            _expand_optional(config.password),
            _expand_optional(config.private_key_passphrase),
        )

    def where(self) -> str:
        return f"sftp://{self.config.username}@{self.config.host}:{self.config.port}{self._root}"

    @cached_property
    def _ssh(self) -> paramiko.SSHClient:
        config = self.config
        client = paramiko.SSHClient()
        if config.known_hosts:
            client.load_host_keys(str(Path(config.known_hosts).expanduser()))
        if config.host_key:
            key_type, key_data = config.host_key.split()[:2]
            key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
            host = config.host if config.port == 22 else f"[{config.host}]:{config.port}"
            client.get_host_keys().add(host, key_type, key)
        client.set_missing_host_key_policy(
            paramiko.AutoAddPolicy() if config.insecure_skip_host_key_check else paramiko.RejectPolicy()
        )
        try:
            client.connect(
                config.host,
                port=config.port,
                username=config.username,
                password=self._password,
                key_filename=str(Path(config.private_key_path).expanduser()) if config.private_key_path else None,
                passphrase=self._passphrase,
                timeout=config.timeout_seconds,
                allow_agent=False,
                look_for_keys=False,
            )
        except paramiko.BadHostKeyException as exc:
            raise SourceError(
                self.name, self.where(), f"the server's host key does not match the configured one ({exc})"
            ) from exc
        except paramiko.SSHException as exc:
            raise SourceUnavailableError(self.name, self.where(), f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise SourceUnavailableError(self.name, self.where(), f"cannot connect: {exc}") from exc
        return client

    @cached_property
    def sftp(self) -> paramiko.SFTPClient:
        return self._ssh.open_sftp()

    @property
    def _root(self) -> str:
        return self.config.path.rstrip("/") or "/"

    def close(self) -> None:
        for attribute in ("sftp", "_ssh"):
            if attribute in self.__dict__:
                self.__dict__.pop(attribute).close()

    def _remote(self, path: str) -> str:
        return path if path.startswith("/") else posixpath.join(self._root, path)

    def dir(self, path: str = ".") -> list[dict[str, Any]]:
        """The entries of a remote folder (relative to the connection's path), like ``ls -l``."""
        try:
            attributes = self.sftp.listdir_attr(self._remote(path))
        except OSError as exc:
            raise SourceError(self.name, f"folder '{self._remote(path)}'", str(exc) or type(exc).__name__) from exc
        return [
            {
                "name": a.filename,
                "size": a.st_size,
                "modified": dt.datetime.fromtimestamp(a.st_mtime or 0, dt.UTC).replace(tzinfo=None),
                "is_dir": stat.S_ISDIR(a.st_mode or 0),
            }
            for a in sorted(attributes, key=lambda a: a.filename)
        ]

    def ping(self) -> None:
        """Log in and list the connection's folder (host key, credentials and path in one step)."""
        self.dir(".")

    def read_file(self, path: str) -> bytes:
        """A remote file's bytes (for small files; ``read`` streams big ones to disk)."""
        try:
            with self.sftp.open(self._remote(path), "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise SourceError(self.name, f"file '{self._remote(path)}'", str(exc) or type(exc).__name__) from exc

    def entries(self) -> list[FileEntry]:
        found: list[FileEntry] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            for entry in self.dir(folder or "."):
                relative = posixpath.join(folder, entry["name"]) if folder else entry["name"]
                if entry["is_dir"]:
                    pending.append(relative)
                else:
                    found.append(FileEntry(relative, entry["size"], entry["modified"]))
        return found

    def localize(self, entries: list[FileEntry], scratch: Path) -> list[Path]:
        local = []
        for index, entry in enumerate(entries):
            target = scratch / f"{index:06d}-{posixpath.basename(entry.name)}"
            try:
                self.sftp.get(self._remote(entry.name), str(target))
            except OSError as exc:
                raise SourceError(
                    self.name, f"file '{self._remote(entry.name)}'", str(exc) or type(exc).__name__
                ) from exc
            local.append(target)
        return local
