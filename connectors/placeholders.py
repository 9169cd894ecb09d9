"""Environment placeholders in configuration strings.

Secrets never live in pipedag.yaml: a value names an environment variable instead.
``{$NAME}`` must be set; ``{$NAME:-default}`` falls back to ``default``. Any other text
starting ``{$`` (``{$URL:https://x}``, missing its ``-``) is refused rather than kept literally.

Example::

    >>> os.environ["PGPASSWORD"] = "s3cret"
    >>> expand("postgresql://app:{$PGPASSWORD}@db/{$PGDB:-test}")
    'postgresql://app:s3cret@db/test'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


RIGHT_FORM = "{$VAR} or {$VAR:-default}"


class MalformedPlaceholder(ValueError):
    """Text starting ``{$`` that is not a placeholder: it would be used literally (a URL of ``{$…}``)."""

    def __init__(self, placeholder: str) -> None:
        super().__init__(f"placeholder '{placeholder}' is malformed; write {RIGHT_FORM}")
        self.placeholder = placeholder


class MissingEnvironmentVariable(KeyError):
    """A ``{$NAME}`` placeholder without default names a variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def check_placeholders(text: str) -> None:
    """Raise MalformedPlaceholder for the first ``{$`` in ``text`` that does not open a placeholder."""
    start = text.find("{$")
    while start != -1:
        found = PLACEHOLDER.match(text, start)
        if found is None:
            end = text.find("}", start)
            raise MalformedPlaceholder(text[start:] if end == -1 else text[start : end + 1])
        start = text.find("{$", found.end())


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every placeholder in ``text``; raise MissingEnvironmentVariable for unset ones and
    MalformedPlaceholder for text that looks like one but is not."""
    env = os.environ if environ is None else environ
    check_placeholders(text)

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise MissingEnvironmentVariable(name)

    return PLACEHOLDER.sub(substitute, text)


def is_placeholder(text: str) -> bool:
    """True if ``text`` is exactly one placeholder (how a secret must be written)."""
    return PLACEHOLDER.fullmatch(text) is not None
