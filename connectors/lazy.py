"""Package names imported on first use (PEP 562), so a command that needs one module of a
package does not pay for loading the rest (``stagehouse run --due`` must not load pipedag).

Example::

    __getattr__ = lazy_exports(__name__, {"connect": "stagehouse.connectors.registry"})
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each name of ``exports`` from its module when first asked."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(exports[name]), name)

    return __getattr__
