"""What every connection has, whatever system it talks to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConnectionConfig(BaseModel):
    """Base of the typed connection configs: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Connection:
    """A named, configured handle on an outside system; created by ``connectors.connect``.

    Use it as a context manager (``with connect("shop") as shop: ...``) to release its pooled
    database connections when done.
    """

    def __init__(self, name: str, config: ConnectionConfig) -> None:
        self.name = name
        self.config = config

    def close(self) -> None:
        """Release pooled resources (database connections); the object stays usable."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
