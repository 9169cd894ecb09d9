"""Connectors: talk to outside systems (databases, files, APIs). Nothing here imports pipedag.

Example::

    from connectors import connect
    batches = connect("shop").read("public.orders")
"""

from connectors.base import Connection
from connectors.errors import (
    ConfigFileError,
    ConnectionConfigError,
    SourceError,
    SourceUnavailableError,
    StagehouseError,
    UnsafeIdentifierError,
    WarehouseError,
)
from connectors.files import FilesConnection
from connectors.registry import connect
from connectors.rest import RestConnection, RestError
from connectors.sftp import SftpConnection
from connectors.sql import SqlConnection
from connectors.writeback import WritebackReport, push_changes

__all__ = [
    "ConfigFileError",
    "Connection",
    "ConnectionConfigError",
    "FilesConnection",
    "RestConnection",
    "RestError",
    "SftpConnection",
    "SourceError",
    "SourceUnavailableError",
    "SqlConnection",
    "StagehouseError",
    "UnsafeIdentifierError",
    "WarehouseError",
    "WritebackReport",
    "connect",
    "push_changes",
]
