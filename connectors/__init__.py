"""Connectors: talk to outside systems (databases, files, APIs). Nothing here imports pipedag.

Names are imported on first use, so a command that needs only one connector kind (or none, like
``stagehouse run --due`` deciding that nothing is due) does not load the others.

Example::

    from connectors import connect
    batches = connect("shop").read("public.orders")
"""

from connectors.lazy import lazy_exports

_EXPORTS = {
    "ConfigFileError": "connectors.errors",
    "ConnectionConfigError": "connectors.errors",
    "SourceError": "connectors.errors",
    "SourceUnavailableError": "connectors.errors",
    "StagehouseError": "connectors.errors",
    "UnsafeIdentifierError": "connectors.errors",
    "WarehouseError": "connectors.errors",
    "RestCallError": "connectors.errors",
    "Connection": "connectors.base",
    "FilesConnection": "connectors.files",
    "RestConnection": "connectors.rest",
    "RestError": "connectors.rest",
    "SftpConnection": "connectors.sftp",
    "SqlConnection": "connectors.sql",
    "WritebackReport": "connectors.writeback",
    "push_changes": "connectors.writeback",
    "connect": "connectors.registry",
    "dbconnect": "connectors.registry",
    "DW_NAME": "connectors.registry",
    "FederatedQueryError": "connectors.federated",
    "query": "connectors.federated",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
