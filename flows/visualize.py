"""Pictures of a flow: a Kroki URL (always; no network needed to build it) and a local SVG.

The Kroki base URL comes from ``kroki_url`` in pipedag.yaml ($STAGEHOUSE_KROKI_URL), so a
self-hosted Kroki works. The SVG is drawn by Graphviz's ``dot`` when it is on the PATH, else
fetched from that Kroki (``render_svg``; not when ``disable_kroki`` is set): a machine without
Graphviz still gets its picture, and says where it came from. Given a run of the run
history (``recorded_result``), each task is coloured by its state in that run as pipedag colours
a fresh ``Result``: completed green, cache-valid light green, failed red, skipped white.

Example::

    url = kroki_url(flow, config, recorded_result(flow, config, history.run(run_id)))
    write_svg(flow, config, Path("nycflights.svg"))
    render_svg(flow, config, Path("nycflights.svg"))   # Kroki's URL when Kroki drew it, else None
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import attrs
from pydiverse.pipedag import ConfigContext, Flow
from pydiverse.pipedag.context.run_context import FinalTaskState
from pydiverse.pipedag.core.result import Result
from pydiverse.pipedag.core.stage import CommitStageTask

from stagehouse.connectors.errors import StagehouseError

RECORDED_STATES = {
    "COMPLETED": FinalTaskState.COMPLETED,
    "CACHE_VALID": FinalTaskState.CACHE_VALID,
    "FAILED": FinalTaskState.FAILED,
    "SKIPPED": FinalTaskState.UNKNOWN,
}


KROKI_TIMEOUT = 30  # seconds


class RunNotOfFlowError(StagehouseError):
    """The run to draw is unknown or belongs to another flow."""


class SvgRenderError(StagehouseError):
    """Neither Graphviz nor Kroki could draw the flow."""


def recorded_result(flow: Flow, config: ConfigContext, run: dict[str, Any] | None, run_id: str = "") -> Result:
    """A pipedag ``Result`` whose task states are those the run history recorded for ``run``.

    Tasks the run did not touch (stages not selected, tasks after a failure) stay uncoloured.
    """
    if run is None:
        raise RunNotOfFlowError(
            f"no run '{run_id}' in the run history (see `stagehouse runs {flow.name}`)", run_id=run_id
        )
    if run["flow"] != flow.name:
        raise RunNotOfFlowError(
            f"run '{run['run_id']}' is a run of flow '{run['flow']}', not '{flow.name}'", run_id=run["run_id"]
        )
    recorded = {
        (task["stage"], task["task"]): RECORDED_STATES.get(task["state"], FinalTaskState.UNKNOWN)
        for task in run["tasks"]
    }
    states = {}
    for task in flow.tasks:
        state = recorded.get((task._stage.name, task._name))
        if isinstance(task, CommitStageTask):
            stage_states = {s for (stage, _), s in recorded.items() if stage == task._stage.name}
            state = (
                FinalTaskState.FAILED
                if FinalTaskState.FAILED in stage_states
                else (FinalTaskState.COMPLETED if stage_states - {FinalTaskState.UNKNOWN} else None)
            )
        states[task] = state or FinalTaskState.UNKNOWN
    return Result(
        flow=flow,
        subflow=flow.get_subflow(),
        underlying=None,
        successful=run["status"] == "SUCCESS",
        config_context=config,
        task_values={},
        task_states=states,
        exception=None,
    )


def kroki_url(flow: Flow, config: ConfigContext, result: Result | None = None, base_url: str | None = None) -> str:
    """The URL at which Kroki renders the flow graph (coloured by task state given a result)."""
    if base_url:
        config = config.evolve(kroki_url=base_url.rstrip("/"), disable_kroki=False)
        if result is not None:
            result = attrs.evolve(result, config_context=config)
    with config:
        return flow.visualize_url(result)


def has_graphviz() -> bool:
    """True when Graphviz's ``dot`` is installed (``apt-get install graphviz``)."""
    return shutil.which("dot") is not None


def write_svg(flow: Flow, config: ConfigContext, path: Path, result: Result | None = None) -> Path:
    """Render the flow graph to ``path`` as SVG with the local Graphviz."""
    with config:
        graph = flow.visualize_pydot(result)
    path.write_bytes(graph.create_svg())
    return path


def render_svg(
    flow: Flow, config: ConfigContext, path: Path, result: Result | None = None, base_url: str | None = None
) -> str | None:
    """Write the flow graph to ``path`` as SVG: with the local Graphviz, else fetched from Kroki.

    Returns the Kroki server's URL when Kroki drew it, None when Graphviz did. Without Graphviz,
    a Kroki that is disabled (``disable_kroki``), unreachable or answering with anything but an
    SVG raises ``SvgRenderError`` saying to install Graphviz or set STAGEHOUSE_KROKI_URL.
    """
    if has_graphviz():
        write_svg(flow, config, path, result)
        return None
    fix = "install Graphviz (apt-get install graphviz) or set STAGEHOUSE_KROKI_URL to a Kroki server"
    if config.disable_kroki and not base_url:
        raise SvgRenderError(f"Graphviz not found and Kroki is disabled (disable_kroki in pipedag.yaml); {fix}")
    server = (base_url or config.kroki_url or "").rstrip("/")
    try:
        with urllib.request.urlopen(kroki_url(flow, config, result, base_url), timeout=KROKI_TIMEOUT) as response:
            svg = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc).strip() or type(exc).__name__
        raise SvgRenderError(
            f"Graphviz not found and Kroki at {server} did not answer ({reason}); {fix}", kroki_url=server
        ) from exc
    if not svg.lstrip().startswith((b"<?xml", b"<svg")):
        raise SvgRenderError(f"Graphviz not found and Kroki at {server} answered with no SVG; {fix}", kroki_url=server)
    path.write_bytes(svg)
    return server
