"""get_state/set_state: a user task's own state commits with its stage."""

from __future__ import annotations

import pandas as pd
import pytest
from pydiverse.pipedag import Flow, Stage, Table, materialize

from stagehouse.flows import run_flow
from stagehouse.tasks import TaskDefinitionError, get_state, set_state, stateful


class Source:
    """Rows 1..n appear over time; the task pulls those past its cursor."""

    def __init__(self) -> None:
        self.rows = 3
        self.fail_after_set = False


def build(source: Source, break_stage: bool = False, other_version: str = "1") -> Flow:
    @stateful(version="1", cache=lambda: source.rows)
    def events():
        cursor = get_state().get("cursor", 0)
        new = pd.DataFrame({"id": list(range(cursor + 1, source.rows + 1))}, dtype="int64")
        set_state({"cursor": source.rows, "runs": get_state().get("runs", 0) + 1})
        if source.fail_after_set:
            raise RuntimeError("source broke after set_state")
        return Table(new, "events")

    @materialize(version=other_version, input_type=pd.DataFrame)
    def batch_size(events: pd.DataFrame):
        if break_stage:
            raise RuntimeError("a later task of the stage fails")
        return Table(pd.DataFrame({"n": [len(events)]}), "batch_size")

    with Flow("stateful") as flow:
        with Stage("raw"):
            batch_size(events())
    return flow


def states(report):
    return {t.task: t.state for t in report.tasks}


def committed_state(project):
    import json

    return json.loads(project.read("raw", "events__state")[0]["state"])


def test_state_advances_only_with_a_committed_stage(project):
    source = Source()
    first = run_flow(build(source))
    assert first.ok, first.error
    assert committed_state(project) == {"cursor": 3, "runs": 1}
    assert [r["id"] for r in project.read("raw", "events", order_by="id")] == [1, 2, 3]

    source.rows = 5
    second = run_flow(build(source))
    assert second.ok, second.error
    assert [r["id"] for r in project.read("raw", "events", order_by="id")] == [4, 5]  # only what is new
    assert committed_state(project) == {"cursor": 5, "runs": 2}

    source.rows = 8
    source.fail_after_set = True
    assert not run_flow(build(source)).ok
    assert committed_state(project) == {"cursor": 5, "runs": 2}

    source.fail_after_set = False
    assert not run_flow(build(source, break_stage=True)).ok  # set_state ran, the stage did not commit
    assert committed_state(project) == {"cursor": 5, "runs": 2}

    resumed = run_flow(build(source))
    assert resumed.ok, resumed.error
    assert [r["id"] for r in project.read("raw", "events", order_by="id")] == [6, 7, 8]
    assert committed_state(project) == {"cursor": 8, "runs": 3}

    carried = run_flow(build(source, other_version="2"))  # the stage commits again, events is cache-valid
    assert states(carried) == {"events": "CACHE_VALID", "batch_size": "COMPLETED"}
    assert committed_state(project) == {"cursor": 8, "runs": 3}
    source.rows = 9
    assert run_flow(build(source, other_version="2")).ok
    assert committed_state(project) == {"cursor": 9, "runs": 4}


@pytest.mark.parametrize("instance", ["local"], indirect=True)
def test_state_functions_outside_a_stateful_task_explain_themselves(project):
    with pytest.raises(TaskDefinitionError, match="only inside a task decorated with @stateful"):
        get_state()
    with pytest.raises(TaskDefinitionError, match="only inside"):
        set_state({"a": 1})
