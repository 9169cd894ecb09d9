"""Files on SFTP servers: ``dir``, ``read_file``, and globbed, incremental reads as Arrow batches."""

from connectors.sftp.config import SftpConnectionConfig
from connectors.sftp.source import SftpConnection

__all__ = ["SftpConnection", "SftpConnectionConfig"]
