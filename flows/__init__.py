"""Flows: the flows themselves (modules defining ``build_flow()``), the runner, schedules, run
history and the CLI.

Names are imported on first use, so ``stagehouse run --due`` and ``stagehouse list`` start
without loading pipedag.

Example::

    from flows import load_flow, run_flow, get_pipeline_runs
    report = run_flow(load_flow("nycflights"), stages=["mart"])
    get_pipeline_runs("nycflights")[0]["status"]
"""

from connectors.lazy import lazy_exports

_EXPORTS = {
    "RunReport": "flows.runner",
    "TaskOutcome": "flows.runner",
    "run_flow": "flows.runner",
    "config_context": "flows.config",
    "pipedag_config": "flows.config",
    "list_flows": "flows.catalog",
    "load_flow": "flows.catalog",
    "get_pipeline_runs": "flows.api",
    "get_pipeline_logs": "flows.api",
    "run_due": "flows.due",
    "run_pipeline": "flows.pipelines",
    "PipelineError": "flows.pipelines",
    "Schedule": "flows.schedule",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
