"""Make the top-level modules named in $STAGEHOUSE_HIDE_MODULES (comma separated) not installed,
for a real interpreter started with this folder on PYTHONPATH.

The path finder is wrapped so it finds nothing for them: ``import paramiko`` raises
``ModuleNotFoundError: No module named 'paramiko'`` and ``importlib.util.find_spec`` returns None,
as in an environment installed without the extra.
"""

import importlib.machinery
import os
import sys

HIDDEN = {name.strip() for name in os.environ.get("STAGEHOUSE_HIDE_MODULES", "").split(",") if name.strip()}


class HidingPathFinder:
    """sys.meta_path's PathFinder, blind to the hidden modules."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return importlib.machinery.PathFinder.find_spec(name, path, target)

    def __getattr__(self, name):
        return getattr(importlib.machinery.PathFinder, name)


if HIDDEN:
    sys.meta_path[:] = [
        HidingPathFinder() if finder is importlib.machinery.PathFinder else finder for finder in sys.meta_path
    ]
    for loaded in [name for name in sys.modules if name.partition(".")[0] in HIDDEN]:
        del sys.modules[loaded]
