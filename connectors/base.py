"""What every connection has, whatever system it talks to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConnectionConfig(BaseModel):
    """Base of the typed connection configs: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Connection:
    """A named, configured handle on an outside system; created by ``connectors.connect``."""

    def __init__(self, name: str, config: ConnectionConfig) -> None:
        self.name = name
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
