"""Connectors: talk to outside systems (databases, files, APIs). Nothing here imports pipedag.

Names are imported on first use, so a command that needs only one connector kind (or none, like
``stagehouse run --due`` deciding that nothing is due) does not load the others.

Example::

    from stagehouse.connectors import connect
    batches = connect("shop").read("public.orders")
"""

from stagehouse.connectors.lazy import lazy_exports

_EXPORTS = {
    "ConfigFileError": "stagehouse.connectors.errors",
    "ConnectionConfigError": "stagehouse.connectors.errors",
    "SourceError": "stagehouse.connectors.errors",
    "SourceUnavailableError": "stagehouse.connectors.errors",
    "StagehouseError": "stagehouse.connectors.errors",
    "UnsafeIdentifierError": "stagehouse.connectors.errors",
    "WarehouseError": "stagehouse.connectors.errors",
    "StoreInUseError": "stagehouse.connectors.errors",
    "RestCallError": "stagehouse.connectors.errors",
    "Connection": "stagehouse.connectors.base",
    "FilesConnection": "stagehouse.connectors.files",
    "RestConnection": "stagehouse.connectors.rest",
    "RestError": "stagehouse.connectors.rest",
    "SftpConnection": "stagehouse.connectors.sftp",
    "SqlConnection": "stagehouse.connectors.sql",
    "WritebackReport": "stagehouse.connectors.writeback",
    "push_changes": "stagehouse.connectors.writeback",
    "connect": "stagehouse.connectors.registry",
    "dbconnect": "stagehouse.connectors.registry",
    "DW_NAME": "stagehouse.connectors.registry",
    "FederatedQueryError": "stagehouse.connectors.federated",
    "query": "stagehouse.connectors.federated",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
