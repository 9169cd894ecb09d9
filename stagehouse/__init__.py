"""Stagehouse: ELT on pydiverse-pipedag. The names users call, importable from the top.

Names load on first use (PEP 562): ``import stagehouse`` costs milliseconds, and a command
that needs only the run history never loads pipedag, pandas or polars.

Example::

    from pydiverse.pipedag import Flow, Stage
    from stagehouse import sync, sql_transform

    with Flow("shop") as flow:
        with Stage("raw"):
            orders = sync("shop_db", "public.orders", mode="merge", cursor="updated_at")
"""

from stagehouse.connectors.lazy import lazy_exports

_TASKS = (
    "sync",
    "sql_transform",
    "polars_transform",
    "pandas_transform",
    "replicate",
    "writeback",
    "stateful",
    "get_state",
    "set_state",
    "names_connections",
    "TableRef",
    "ArrowStream",
    "StoreWriteError",
    "TaskDefinitionError",
)
_FLOWS = (
    "run_flow",
    "load_flow",
    "list_flows",
    "config_context",
    "pipedag_config",
    "get_pipeline_runs",
    "get_pipeline_logs",
    "check_project",
    "CheckReport",
    "run_due",
    "run_pipeline",
    "PipelineError",
    "Schedule",
    "RunReport",
    "TaskOutcome",
)
_CONNECTORS = (
    "connect",
    "dbconnect",
    "DW_NAME",
    "query",
    "push_changes",
    "WritebackReport",
    "StagehouseError",
    "ConfigFileError",
    "ConnectionConfigError",
    "SourceError",
    "SourceUnavailableError",
    "WarehouseError",
    "RestCallError",
    "UnsafeIdentifierError",
    "FederatedQueryError",
)
_EXPORTS = {
    **{name: "stagehouse.tasks" for name in _TASKS},
    **{name: "stagehouse.flows" for name in _FLOWS},
    **{name: "stagehouse.connectors" for name in _CONNECTORS},
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
