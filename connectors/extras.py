"""Optional dependencies (the ``demo``, ``dask`` and ``sftp`` extras): a missing one fails with one
line naming the extra to install, not an ImportError deep inside a run.

Each optional dependency has one small shim module next to the code that uses it
(``connectors/sftp/paramiko_extra.py``, ``connectors/sql/cluster_worker.py``, ``flows/dask_extra.py``,
``flows/nycflights_extra.py``),
as pydiverse-pipedag's ``optional_dependency/*.py`` do.

Example::

    paramiko = optional_import("paramiko", feature="SFTP connections", extra="sftp")
    require(paramiko)   # MissingExtraError: SFTP connections need the sftp extra: pip install 'stagehouse[sftp]'
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from stagehouse.connectors.errors import StagehouseError


class MissingExtraError(StagehouseError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    def __init__(self, feature: str, extra: str, module: str, verb: str = "need") -> None:
        super().__init__(
            f"{feature} {verb} the {extra} extra: pip install 'stagehouse[{extra}]'",
            feature=feature,
            extra=extra,
            module=module,
        )


class MissingModule:
    """Stands in for a module that is not installed: any attribute raises ``MissingExtraError``."""

    def __init__(self, module: str, feature: str, extra: str, cause: ImportError) -> None:
        self._missing = (feature, extra, module)
        self._cause = cause

    def error(self) -> MissingExtraError:
        error = MissingExtraError(*self._missing)
        error.__cause__ = self._cause
        return error

    def __getattr__(self, name: str) -> Any:
        raise self.error()

    def __repr__(self) -> str:
        return f"<missing module {self._missing[2]!r} (extra {self._missing[1]!r})>"


def optional_import(module: str, *, feature: str, extra: str) -> Any:
    """``module`` imported, or a ``MissingModule`` standing in for it when it is not installed."""
    try:
        return import_module(module)
    except ImportError as exc:
        return MissingModule(module, feature, extra, exc)


def installed(module: Any) -> bool:
    """Whether ``module`` (from a shim) is the real module, not a stand-in."""
    return not isinstance(module, MissingModule)


def require(*modules: Any) -> None:
    """Raise ``MissingExtraError`` for the first of ``modules`` that is a stand-in."""
    for module in modules:
        if isinstance(module, MissingModule):
            raise module.error()
