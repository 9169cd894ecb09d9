"""Stage names a run may use: each stage is a schema of the instance's store, shared by all flows.

Two rules, checked before a run touches the store:

- a name starting with ``pg_`` is refused: PostgreSQL reserves such schema names, and on DuckDB
  the stage's tables silently went missing;
- a stage whose last committed tables came from another flow on the instance is refused: the
  run's stage commit would replace that flow's tables (a copied example flow that kept ``raw`` and
  ``mart`` wiped its sibling's). ``replace_stages=True`` (``--replace-stages``) takes such a stage
  over, for a flow that was renamed or retired.

Example::

    check_stage_names(flow, ["raw", "mart"], history, replace_stages=False)
    # StageNameError: stage 'raw' on instance 'local' holds the tables of flow 'example' ...
"""

from __future__ import annotations

import sqlalchemy as sa

from stagehouse.connectors.errors import StagehouseError
from stagehouse.flows.history import RUN_TASKS, RUNS, RunHistory

RESERVED_PREFIXES = ("pg_",)
COMMITTED = ("COMPLETED", "CACHE_VALID")


class StageNameError(StagehouseError):
    """A flow's stage name the store cannot keep apart: reserved, or holding another flow's tables."""


def is_reserved(stage: str) -> bool:
    """True for a stage name a store reserves for its own schemas (``pg_…``)."""
    return stage.lower().startswith(RESERVED_PREFIXES)


def refuse_reserved(flow: str, stages: list[str]) -> None:
    """StageNameError for a stage name a store reserves (``pg_…``)."""
    for stage in stages:
        if is_reserved(stage):
            raise StageNameError(
                f"flow '{flow}': stage '{stage}' starts with 'pg_', which PostgreSQL reserves for its own schemas; "
                "rename the stage",
                flow=flow,
                stage=stage,
            )


def owners(history: RunHistory, stages: list[str]) -> dict[str, tuple[str, object]]:
    """``{stage: (flow, started_at)}``: the flow whose run last committed tasks in each stage."""
    if not stages or not history._exists():
        return {}
    newest_first = sa.func.row_number().over(partition_by=RUN_TASKS.c.stage, order_by=RUNS.c.started_at.desc())
    ranked = (
        sa.select(RUN_TASKS.c.stage, RUNS.c.flow, RUNS.c.started_at, newest_first.label("rank"))
        .join(RUNS, RUNS.c.run_id == RUN_TASKS.c.run_id)
        .where(
            RUNS.c.instance == history.instance,
            RUN_TASKS.c.stage.in_(stages),
            RUN_TASKS.c.state.in_(COMMITTED),
            RUNS.c.status == "SUCCESS",
        )
        .subquery()
    )
    latest = sa.select(ranked.c.stage, ranked.c.flow, ranked.c.started_at).where(
        ranked.c.rank == 1
    )  # one row per stage, however long the history
    with history.engine.connect() as conn:
        return {stage: (flow, started) for stage, flow, started in conn.execute(latest)}


def check_stage_names(flow: str, stages: list[str], history: RunHistory, *, replace_stages: bool = False) -> None:
    """Refuse stages another flow's last run committed (unless ``replace_stages``); reserved
    names are refused earlier, before the run takes its locks (``refuse_reserved``)."""
    if replace_stages:
        return
    for stage, (other, started) in owners(history, stages).items():
        if other != flow:
            raise StageNameError(
                f"stage '{stage}' on instance '{history.instance}' holds the tables of flow '{other}' (its run of "
                f"{started:%Y-%m-%d %H:%M}); a run of '{flow}' would replace them. Stages are schemas shared by every "
                "flow "
                f"of an instance: give this flow's stages names of their own, or pass --replace-stages if '{other}' "
                "is gone",
                flow=flow,
                stage=stage,
                other_flow=other,
            )
