"""Flows: the flows themselves (modules defining ``build_flow()``), the runner and the CLI.

Example::

    from flows import load_flow, run_flow
    report = run_flow(load_flow("nycflights"), stages=["mart"])
"""

from flows.catalog import list_flows, load_flow
from flows.config import config_context, pipedag_config
from flows.runner import RunReport, TaskOutcome, run_flow

__all__ = ["RunReport", "TaskOutcome", "config_context", "list_flows", "load_flow", "pipedag_config", "run_flow"]
