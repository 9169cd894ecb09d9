"""Files on SFTP servers: ``dir``, ``read_file``, and globbed, incremental reads as Arrow batches."""

from stagehouse.connectors.sftp.config import SftpConnectionConfig
from stagehouse.connectors.sftp.source import SftpConnection

__all__ = ["SftpConnection", "SftpConnectionConfig"]
