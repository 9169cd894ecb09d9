"""Files in a folder: CSV, JSON/NDJSON and Parquet, plain or compressed (gz, zst, zip)."""

from connectors.files.config import FilesConnectionConfig
from connectors.files.source import FilesConnection

__all__ = ["FilesConnection", "FilesConnectionConfig"]
