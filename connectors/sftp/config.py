"""Typed config of a ``type: sftp`` connection: a folder on an SFTP server.

The server's host key is checked against ``host_key`` (its public key line) or a
``known_hosts`` file; skipping the check must be asked for by name.

Example (pipedag.yaml, under ``attrs.connections``)::

    partner_drop:
      type: sftp
      host: sftp.partner.example
      username: acme
      private_key_path: "{$PARTNER_KEY_FILE}"
      known_hosts: ~/.ssh/known_hosts
      path: /outgoing/orders
      format: csv
"""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt, model_validator

from stagehouse.connectors.base import ConnectionConfig
from stagehouse.connectors.files.config import CsvOptions, FileFormat
from stagehouse.connectors.rest.config import Secret


class SftpConnectionConfig(ConnectionConfig):
    """A folder on an SFTP server; password or private key only as ``{$ENV}``."""

    type: Literal["sftp"]
    host: str
    port: PositiveInt = 22
    username: str
    password: Secret | None = None
    private_key_path: str | None = None
    private_key_passphrase: Secret | None = None
    host_key: str | None = None
    known_hosts: str | None = None
    insecure_skip_host_key_check: bool = False
    path: str = "."
    format: FileFormat | None = None
    csv: CsvOptions = CsvOptions()
    batch_rows: PositiveInt = 65_536
    timeout_seconds: PositiveInt = 30

    @model_validator(mode="after")
    def has_credentials_and_host_check(self) -> SftpConnectionConfig:
        if not (self.password or self.private_key_path):
            raise ValueError("give password: {$ENV} or private_key_path")
        if not (self.host_key or self.known_hosts or self.insecure_skip_host_key_check):
            raise ValueError("give host_key or known_hosts to check the server (or insecure_skip_host_key_check: true)")
        return self
