"""What every connection has, whatever system it talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict


class ConnectionConfig(BaseModel):
    """Base of the typed connection configs: unknown fields are errors, not silently ignored.

    ``on_type_conflict`` says what an incremental or merge sync does when new rows bring a type
    the committed column cannot take: ``fail`` (default, naming the value) or ``variant`` (keep
    the values that do not fit in a text column ``<column>__v_text``). ``on_removed_column`` says
    what it does when a committed column is missing from the source: ``fail`` (the default where
    the source declares its columns: a SQL table, a CSV header) or ``keep`` (the column stays,
    NULL in the new rows; the default for JSON records, which may simply lack a field).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    on_type_conflict: Literal["fail", "variant"] = "fail"
    on_removed_column: Literal["fail", "keep"] | None = None


class Connection:
    """A named, configured handle on an outside system; created by ``connectors.connect``.

    Use it as a context manager (``with connect("shop") as shop: ...``) to release its pooled
    database connections when done.
    """

    def __init__(self, name: str, config: ConnectionConfig) -> None:
        self.name = name
        self.config = config

    @classmethod
    def from_config(cls, name: str, config: ConnectionConfig, base_dir: Path) -> Connection:
        """The connection ``name`` declared by ``config``, its ``{$ENV}`` placeholders expanded
        (``connectors.registry.connect`` calls it); ``base_dir`` is where relative paths start."""
        raise NotImplementedError(f"{cls.__name__} has no from_config()")

    def close(self) -> None:
        """Release pooled resources (database connections); the object stays usable."""

    def ping(self) -> None:
        """Reach the system once, cheaply and without changing anything (``stagehouse check
        --connect``); raises ``SourceUnavailableError`` or ``SourceError`` naming what failed.

        Example: ``connect("shop").ping()`` (a SQL connection runs ``SELECT 1``)
        """
        raise NotImplementedError(f"{type(self).__name__} has no ping()")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
