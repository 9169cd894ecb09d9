"""Changes: a table's change log filtered by status and type, each FAILED or CONFLICT change with its
error; resend or discard a change; start the table's writeback and watch the statuses move."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from stagehouse.connectors.sql.changelog import CHANGE_LOG, STATUSES, TYPES
from stagehouse.flows.ui.flow_board import start_run
from stagehouse.flows.ui.streamlit_extra import st
from stagehouse.flows.ui.views.common import busy_banner, instance, pick_table, shown, store, user, writeback_targets

TYPE_NAMES = {"u": "update", "i": "insert", "d": "delete"}
SHOWN = (
    "id",
    "type",
    "row_pk",
    "field",
    "old_value",
    "new_value",
    "changed_by",
    "changed_at",
    "writeback_status",
    "error",
    "attempts",
)


def edited_tables(wh: Any) -> list[str]:
    if not wh.change_log.exists():
        return []
    with wh.engine.connect() as conn:
        return list(
            conn.execute(sa.select(CHANGE_LOG.c.table_name).distinct().order_by(CHANGE_LOG.c.table_name)).scalars()
        )


def render() -> None:
    st.header("Changes")
    busy_banner()
    with shown():
        with store() as wh:
            names = edited_tables(wh)
            if not names:
                st.info("No edits yet: change cells on the Edit page.")
                return
            table = pick_table(wh, "changes_table", names=names)
        if table is None:
            return
        left, right = st.columns(2)
        statuses = left.multiselect("Status", STATUSES, key="changes_status")
        types = right.multiselect("Type", TYPES, format_func=lambda t: TYPE_NAMES[t], key="changes_type")
        actions(table)
        log_view(table, statuses, types)


@st.fragment(run_every=2)
def log_view(table: str, statuses: list[str], types: list[str]) -> None:
    """The change log of ``table``, read again every 2 s so a writeback's statuses move on screen."""
    with shown(), store() as wh:
        rows = wh.list_changes(table, writeback_status=statuses or None, type=types or None)
        counts: dict[str, int] = {}
        for row in wh.list_changes(table):
            counts[row["writeback_status"]] = counts.get(row["writeback_status"], 0) + 1
        st.markdown(
            "Statuses: " + (" · ".join(f"**{s}** {counts[s]}" for s in STATUSES if s in counts) or "no changes")
        )
        st.dataframe([{k: row[k] for k in SHOWN} for row in rows], hide_index=True, width="stretch", key="changes_grid")
        for row in rows:
            if row["writeback_status"] in ("FAILED", "CONFLICT") and row["error"]:
                st.error(f"change {row['id']} ({row['writeback_status']}): {row['error']}")


def actions(table: str) -> None:
    if message := st.session_state.pop("changes_done", None):
        st.success(message)
    with st.form("change_action"):
        left, middle, right = st.columns([1, 1, 1])
        change_id = left.number_input("Change id", min_value=1, step=1, key="change_id")
        resend = middle.form_submit_button("Resend (NOT_PROCESSED)")
        discard = right.form_submit_button("Discard (never send, stop showing it)")
        if resend or discard:
            with store() as wh:
                if resend:
                    wh.update_change(int(change_id), "NOT_PROCESSED", table_name=table)
                else:
                    wh.discard_change(int(change_id), user=user(), table_name=table)
            st.session_state["changes_done"] = (
                f"change {int(change_id)} {'will be sent again on the next writeback' if resend else 'discarded'}"
            )
            st.rerun()
    targets = writeback_targets(table)
    if not targets:
        st.caption(f"No flow has a writeback task for {table}.")
        return
    for flow, stage in targets:
        if st.button(f"Start writeback: flow {flow}, stage {stage}", key=f"writeback_{flow}_{stage}"):
            run_id = start_run(flow, [stage], instance())
            st.session_state["followed_run"] = run_id
            st.success(f"writeback started (run {run_id}); the statuses below refresh as it goes")
