"""Flows and runs: every flow with its schedule, next due time and last run; its picture coloured by
the last run; run the flow or one stage in the background and follow it (state, tasks, rows,
seconds, logs); the run history with filters."""

from __future__ import annotations

from typing import Any

from stagehouse.flows.history import STATUSES, RunHistory
from stagehouse.flows.ui.flow_board import flow_rows, flow_stages, flow_svg, run_output, runs_filtered, start_run
from stagehouse.flows.ui.streamlit_extra import st
from stagehouse.flows.ui.views.common import built_flow, busy_banner, instance, shown, store

ALL_STAGES = "(whole flow)"


def render() -> None:
    st.header("Flows and runs")
    busy_banner()
    with shown():
        with store() as wh:
            rows = flow_rows(wh, instance())
        st.dataframe(rows, hide_index=True, width="stretch", key="flows_grid")
        if not rows:
            st.info("No flows found: add one under flows/ (see `stagehouse init`).")
            return
        names = [r["flow"] for r in rows]
        wanted = st.query_params.get("flow")
        flow_name = st.selectbox("Flow", names, index=names.index(wanted) if wanted in names else 0, key="flow_name")
        flow = built_flow(flow_name)
        left, right = st.columns([2, 1])
        stage = left.selectbox("Stage", [ALL_STAGES, *flow_stages(flow)], key="flow_stage")
        right.write("")
        if right.button("Run in the background", key="flow_run", type="primary"):
            stages = [] if stage == ALL_STAGES else [stage]
            st.session_state["followed_run"] = start_run(flow_name, stages, instance(), flow_stages(flow))
        last = next(r for r in rows if r["flow"] == flow_name)
        if st.toggle("Picture (coloured by the last run)", key="flow_picture"):
            picture(flow, last["last run"])
    if st.session_state.get("followed_run"):
        follow(st.session_state["followed_run"])
    history()


def picture(flow: Any, run_id: str | None) -> None:
    with shown(), store() as wh:
        run = RunHistory(wh.engine, instance()).run(run_id) if run_id else None
        st.image(flow_svg(flow, instance(), run))


@st.fragment(run_every=2)
def follow(run_id: str) -> None:
    """The followed run, read again every 2 s: its state, then its tasks and logs once it ends."""
    st.subheader(f"Run {run_id}")
    with shown():
        with store() as wh:
            history = RunHistory(wh.engine, instance())
            run = history.run(run_id)
            logs = history.logs(run_id) if run else []
        if run is None or run["status"] == "RUNNING":
            st.markdown(f"state: **{'STARTING' if run is None else 'RUNNING'}**")
        else:
            st.markdown(f"state: **{run['status']}**" + (f" — {run['error']}" if run.get("error") else ""))
            st.dataframe(
                [
                    {
                        "stage": t["stage"],
                        "task": t["task"],
                        "state": t["state"],
                        "rows": t["rows_written"],
                        "seconds": round(t["seconds"] or 0, 2),
                        "error": t["error"] or "",
                    }
                    for t in run["tasks"]
                ],
                hide_index=True,
                width="stretch",
                key="run_tasks",
            )
            with st.expander(f"Log ({len(logs)} lines)"):
                st.code(
                    "\n".join(f"{line.at:%H:%M:%S} {line.level:<7} {line.message}" for line in logs) or "(no lines)",
                    language=None,
                )
    output = run_output(run_id)
    if output:
        with st.expander("Output of the run's process"):
            st.code(output, language=None)


def history() -> None:
    st.subheader("Run history")
    with shown():
        left, middle, right = st.columns([2, 2, 1])
        flow = left.text_input("Flow", key="runs_flow")
        statuses = middle.multiselect("Status", STATUSES, key="runs_status")
        limit = right.number_input("Newest", min_value=1, max_value=1000, value=20, key="runs_limit")
        with store() as wh:
            runs = runs_filtered(wh, instance(), flow or None, statuses, int(limit))
        st.dataframe(
            [
                {
                    k: r[k]
                    for k in ("run_id", "flow", "stages", "run_trigger", "started_at", "ended_at", "status", "error")
                }
                for r in runs
            ],
            hide_index=True,
            width="stretch",
            key="runs_grid",
        )
        chosen = st.selectbox("Follow a run", ["", *(r["run_id"] for r in runs)], key="runs_pick")
        if chosen and chosen != st.session_state.get("followed_run"):
            st.session_state["followed_run"] = chosen
            st.rerun()
