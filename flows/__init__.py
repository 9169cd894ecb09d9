"""Flows: the flows themselves (modules defining ``build_flow()``), the runner, schedules, run
history and the CLI.

Names are imported on first use, so ``stagehouse run --due`` and ``stagehouse list`` start
without loading pipedag.

Example::

    from stagehouse.flows import load_flow, run_flow, get_pipeline_runs
    report = run_flow(load_flow("nycflights"), stages=["mart"])
    get_pipeline_runs("nycflights")[0]["status"]
"""

from stagehouse.connectors.lazy import lazy_exports

_EXPORTS = {
    "RunReport": "stagehouse.flows.runner",
    "TaskOutcome": "stagehouse.flows.runner",
    "run_flow": "stagehouse.flows.runner",
    "config_context": "stagehouse.flows.config",
    "pipedag_config": "stagehouse.flows.config",
    "list_flows": "stagehouse.flows.catalog",
    "load_flow": "stagehouse.flows.catalog",
    "get_pipeline_runs": "stagehouse.flows.api",
    "get_pipeline_logs": "stagehouse.flows.api",
    "run_due": "stagehouse.flows.due",
    "check_project": "stagehouse.flows.check",
    "CheckReport": "stagehouse.flows.check",
    "run_pipeline": "stagehouse.flows.pipelines",
    "PipelineError": "stagehouse.flows.pipelines",
    "Schedule": "stagehouse.flows.schedule",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
