"""Typed config of a ``type: sql`` connection.

Example (pipedag.yaml, under ``attrs.connections``)::

    shop:
      type: sql
      url: "postgresql://app:{$SHOP_PASSWORD}@db.internal:5432/shop"
      batch_rows: 65536
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import PositiveInt, field_validator

from stagehouse.connectors.base import ConnectionConfig
from stagehouse.connectors.placeholders import is_placeholder

URL_PASSWORD = re.compile(r"^[A-Za-z0-9+_.-]+://[^/@:]*:(?P<password>[^@/]*)@")


class SqlConnectionConfig(ConnectionConfig):
    """A database reached through a SQLAlchemy URL; the password only as ``{$ENV}``."""

    type: Literal["sql"]
    url: str
    batch_rows: PositiveInt = 65_536

    @field_validator("url")
    @classmethod
    def password_is_placeholder(cls, url: str) -> str:
        match = URL_PASSWORD.match(url)
        if match and match["password"] and not is_placeholder(match["password"]):
            raise ValueError(
                "the password is written in the file; put it in an environment variable and write "
                "it as {$NAME} in the url"
            )
        return url
