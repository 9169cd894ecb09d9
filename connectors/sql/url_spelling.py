"""Database URLs as SQLAlchemy spells them: ``postgres://`` is ``postgresql://``.

libpq, Heroku, Render and many ``DATABASE_URL`` variables write ``postgres://``, a name
SQLAlchemy dropped (``NoSuchModuleError: Can't load plugin: sqlalchemy.dialects:postgres``).
Both a connection's ``url`` and a table store's take either spelling.

Example::

    sqlalchemy_spelling("postgres://app@db:5432/shop")   # 'postgresql://app@db:5432/shop'
"""

from __future__ import annotations

ALIASES = {"postgres": "postgresql"}


def sqlalchemy_spelling(url: str) -> str:
    """``url`` with its backend's name as SQLAlchemy knows it (any driver after ``+`` kept)."""
    scheme, separator, rest = url.partition("://")
    backend, plus, driver = scheme.partition("+")
    if not separator or backend not in ALIASES:
        return url
    return f"{ALIASES[backend]}{plus}{driver}://{rest}"
