"""Which DuckDB reader takes a file, decided from its name.

Example::

    >>> file_format(Path("flights.csv.zip"))
    'csv'
"""

from __future__ import annotations

from pathlib import Path, PurePath

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
COMPRESSION_SUFFIXES = {".gz", ".zst", ".zip"}


def file_format(path: PurePath) -> str | None:
    """The format a file's suffix says, looking through a compression suffix; None if unknown."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None


def is_zip(path: Path) -> bool:
    """DuckDB reads gz and zst itself; zip archives are unpacked first."""
    return path.suffix.lower() == ".zip"
