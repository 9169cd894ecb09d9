"""Pictures of a flow: a Kroki URL (always; no network needed to build it) and a local SVG.

The Kroki base URL comes from ``kroki_url`` in pipedag.yaml ($STAGEHOUSE_KROKI_URL), so a
self-hosted Kroki works; the SVG needs Graphviz's ``dot`` on the PATH.

Example::

    url, svg = picture(build_flow(), config, Path("nycflights.svg"))
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydiverse.pipedag import ConfigContext, Flow
from pydiverse.pipedag.core.result import Result


def kroki_url(flow: Flow, config: ConfigContext, result: Result | None = None, base_url: str | None = None) -> str:
    """The URL at which Kroki renders the flow graph (coloured by task state given a result)."""
    if base_url:
        config = config.evolve(kroki_url=base_url.rstrip("/"), disable_kroki=False)
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
