"""Files in a folder: CSV, JSON/NDJSON and Parquet, plain or compressed (gz, zst, zip)."""

from stagehouse.connectors.files.config import FilesConnectionConfig
from stagehouse.connectors.files.source import FilesConnection

__all__ = ["FilesConnection", "FilesConnectionConfig"]
