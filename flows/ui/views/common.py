"""What every page of the cockpit shares: errors as one line, the store per request, the caches.

A page's work runs inside ``shown()``: one of our errors shows as its own line in the page, any
other as its type and first line, and the traceback goes to the server log only.
Built flows are cached per process (``st.cache_resource``); table data is read per request.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stagehouse.connectors.errors import StagehouseError, first_line
from stagehouse.connectors.settings import default_instance
from stagehouse.flows.history import RunHistory
from stagehouse.flows.run_lock import describe
from stagehouse.flows.ui.store_access import RunInProgressError, busy_with, store_lock_path, store_session
from stagehouse.flows.ui.streamlit_extra import st

logger = logging.getLogger("stagehouse.ui")
EDITED_COLOUR = "background-color: #fff3b0"


class PageStopped(Exception):
    """Raised inside ``shown()`` to end a page's work after the error is shown."""


def instance() -> str:
    return default_instance()


def user() -> str:
    """The name edits are logged under: what the session entered, else $STAGEHOUSE_USER or the OS user."""
    return st.session_state.get("user") or os.environ.get("STAGEHOUSE_USER") or getpass.getuser()


@contextmanager
def shown() -> Iterator[None]:
    """Show an error of the block as one line in the page; the traceback only in the server log."""
    try:
        yield
    except RunInProgressError as exc:
        st.warning(str(exc))
    except StagehouseError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 (shown, and logged whole)
        logger.exception("cockpit page failed")
        st.error(f"{type(exc).__name__}: {first_line(exc)} (details in the server log)")


@contextmanager
def store() -> Iterator[Any]:
    """The warehouse client for this request (see ``store_access.store_session``)."""
    with store_session(instance()) as wh:
        yield wh


def busy_banner() -> str | None:
    """Say which run holds a DuckDB store, if one does (returns it); on a store many processes
    share, which runs are in progress."""
    holder = busy_with(instance())
    if holder:
        st.info(f"{holder} holds the store; this page refreshes when it ends")
        return holder
    if store_lock_path(instance()) is None:
        with shown(), store() as wh:
            for run in RunHistory(wh.engine, instance()).runs(limit=50):
                if run["status"] == "RUNNING":
                    st.info(f"{describe(run)} is in progress")
    return None


@st.cache_resource(show_spinner=False)
def built_flow(name: str) -> Any:
    """The pipedag Flow of flow module ``name``, built once per process."""
    from stagehouse.flows.catalog import load_flow

    return load_flow(name)


@st.cache_resource(show_spinner=False)
def writeback_targets(table: str) -> list[tuple[str, str]]:
    from stagehouse.flows.ui.flow_board import writeback_targets as found

    return found(table)


def table_names(wh: Any) -> list[str]:
    """``schema.table`` of every table a user reads (internal schemas left out)."""
    return [f"{t['schema']}.{t['name']}" for t in wh.list_tables()]


def pick_table(wh: Any, key: str, label: str = "Table", names: list[str] | None = None) -> str | None:
    """A table picker remembered across pages (``?table=`` in the URL preselects one)."""
    names = table_names(wh) if names is None else names
    if not names:
        st.info("The store has no tables yet: run a flow first (Flows and runs).")
        return None
    wanted = st.session_state.get("table") or st.query_params.get("table")
    index = names.index(wanted) if wanted in names else 0
    chosen = st.selectbox(label, names, index=index, key=key)
    st.session_state["table"] = chosen
    return chosen
