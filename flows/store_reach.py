"""Can an instance's table store be reached? ``stagehouse check --connect`` asks, and a run that
cannot open its store says which instance and server in one line.

Example::

    store_problem(config_context("postgres"))   # None, or "postgresql://postgres@db:1/sh: connection refused"
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.sql.dialects import dialect_named

CONNECT_TIMEOUT = {"postgresql": {"connect_timeout": 10}}
STORE_FIX = "start the store's server or fix table_store.url in pipedag.yaml (e.g. STAGEHOUSE_PG_SERVER)"


class StoreUnavailableError(StagehouseError):
    """The instance's table store did not answer (a stopped server, a wrong URL)."""

    def __init__(self, instance: str, url: str, problem: str) -> None:
        super().__init__(
            f"store of instance '{instance}' ({url}): {problem}; {STORE_FIX}",
            instance=instance,
            url=url,
            problem=problem,
        )


def unavailable_store(exc: BaseException, instance: str | None) -> StoreUnavailableError | None:
    """A StoreUnavailableError for ``exc`` when a database driver's OperationalError is in its
    chain (pipedag wraps the store's in ``RuntimeError: Error while creating backend objects``),
    naming the instance and its store URL (password masked); None otherwise."""
    from stagehouse.connectors.settings import default_instance, instance_section
    from stagehouse.flows.config import pipedag_config

    found: BaseException | None = exc
    while found is not None and type(found).__name__ != "OperationalError":
        found = found.__cause__ or found.__context__
    if found is None:
        return None
    name = instance or default_instance()
    url, _ = store_settings(instance_section(pipedag_config().config_dict, name))
    masked = make_url(url).render_as_string(hide_password=True) if url else "no url"
    return StoreUnavailableError(name, masked, first_line(getattr(found, "orig", None) or found))


def store_settings(section: dict) -> tuple[str, bool]:
    """The store URL of an instance's resolved pipedag.yaml section (``{instance_id}`` filled in,
    as pipedag does) and whether pipedag creates its database when missing. Read from the file,
    not from pipedag's ConfigContext: building that one already opens the store."""
    args = (section.get("table_store") or {}).get("args") or {}
    url = str(args.get("url", "")).replace("{instance_id}", str(section.get("instance_id", "")))
    return url, bool(args.get("create_database_if_not_exists"))


def store_problem(url: str, create_if_missing: bool) -> str | None:
    """None when the store answers (a DuckDB file: its folder can be made and written), else one
    line saying what failed, password masked."""
    parsed = make_url(url)
    if dialect_named(parsed.get_backend_name()).capabilities.file_database:
        folder = Path(parsed.database or ".").resolve().parent
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        return None if os.access(existing, os.W_OK) else f"{existing} is not writable"
    problem = _answer(parsed)
    if problem and create_if_missing and "does not exist" in problem:
        problem = _answer(parsed.set(database="postgres"))  # pipedag creates the database on the first run
    return problem


def _answer(url) -> str | None:
    engine = sa.create_engine(
        url, connect_args=CONNECT_TIMEOUT.get(url.get_backend_name(), {}), poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # a driver's own error is the answer
        text = first_line(getattr(exc, "orig", None) or exc)
        return text.replace(str(url.password), "***") if url.password else text
    finally:
        engine.dispose()
    return None
