"""``connect(name)``: turn a connection declared in pipedag.yaml into a connection object.

A connector kind is a config class and a connection class (``from_config`` builds it, a
``SyncSource`` if ``sync`` can copy from it) in its own subpackage; adding a kind is one
subpackage and one entry in ``KINDS`` (docs/usage.md, "Connector kinds").

Example::

    shop = connect("shop")                       # instance from $STAGEHOUSE_INSTANCE or 'local'
    shop = connect("shop", instance="postgres")
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from stagehouse.connectors.base import Connection, ConnectionConfig
from stagehouse.connectors.errors import ConnectionConfigError
from stagehouse.connectors.placeholders import MalformedPlaceholder, MissingEnvironmentVariable
from stagehouse.connectors.settings import WAREHOUSE, StoreSettings, connection_specs, default_instance, store_settings

if TYPE_CHECKING:
    from stagehouse.connectors.sql.store import StoreConnection


# type -> (module, its config class, its connection class); a kind's module (httpx for rest,
# paramiko for sftp, ...) is imported only when a connection of that kind is declared and used.
KINDS: dict[str, tuple[str, str, str]] = {
    "sql": ("stagehouse.connectors.sql", "SqlConnectionConfig", "SqlConnection"),
    "files": ("stagehouse.connectors.files", "FilesConnectionConfig", "FilesConnection"),
    "rest": ("stagehouse.connectors.rest", "RestConnectionConfig", "RestConnection"),
    "sftp": ("stagehouse.connectors.sftp", "SftpConnectionConfig", "SftpConnection"),
}
DW_NAME = WAREHOUSE  # Peliqan's name for the store's connection: connect(DW_NAME), fetch(DW_NAME, schema, table)


def parse_config(name: str, spec: Any) -> ConnectionConfig:
    """Validate one declaration; a wrong or missing field is named in the error."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ConnectionConfigError(name, f"needs a 'type' field, one of: {', '.join(KINDS)}")
    if spec["type"] not in KINDS:
        raise ConnectionConfigError(name, f"unknown type '{spec['type']}', use one of: {', '.join(KINDS)}")
    module, class_name, _ = KINDS[spec["type"]]
    config_class: type[ConnectionConfig] = getattr(import_module(module), class_name)
    try:
        return TypeAdapter(config_class).validate_python(dict(spec))
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc']) or '(root)'}': {err['msg']}" for err in exc.errors()
        )
        raise ConnectionConfigError(name, problems) from exc


def connection_class(kind: str) -> type[Connection]:
    """The connection class of a declared ``type`` (its module is imported now); lets a flow's
    tasks be checked against a kind's capabilities without building a connection.

    Example: ``connection_class("files").partitionable`` → ``False``
    """
    module, _, class_name = KINDS[kind]
    return getattr(import_module(module), class_name)


def warehouse(url: str, *, instance: str | None = None, instance_id: str | None = None) -> StoreConnection:
    """The table store at ``url`` as a SQL connection named ``warehouse`` (inside a run)."""
    from stagehouse.connectors.sql.store import StoreConnection

    return StoreConnection(StoreSettings(instance or default_instance(), url, instance_id=instance_id))


def connect(
    name: str,
    *,
    instance: str | None = None,
    specs: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
) -> Connection:
    """The connection ``name`` as declared for ``instance`` (or in ``specs`` when given).

    The reserved name ``warehouse`` is the instance's own table store.
    """
    if name == WAREHOUSE and (specs is None or WAREHOUSE not in specs):
        from stagehouse.connectors.sql.store import StoreConnection

        return StoreConnection(store_settings(instance))
    if specs is None:
        specs, base_dir = connection_specs(instance)
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none declared"
        raise ConnectionConfigError(name, f"not declared under attrs.connections in pipedag.yaml (known: {known})")
    config = parse_config(name, specs[name])
    try:
        return connection_class(specs[name]["type"]).from_config(name, config, base_dir or Path.cwd())
    except MissingEnvironmentVariable as exc:
        raise ConnectionConfigError(
            name, f"environment variable {exc.name} is not set; export it before running"
        ) from exc
    except MalformedPlaceholder as exc:
        raise ConnectionConfigError(name, f"{exc} (pipedag.yaml attrs.connections.{name})") from exc


dbconnect = connect  # Peliqan's name for connecting to a database: dbconnect(DW_NAME)
