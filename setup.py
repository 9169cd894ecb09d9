"""Map the repo's three layer folders into the one import namespace ``stagehouse``.

The repo keeps ``connectors/``, ``tasks/`` and ``flows/`` at its root; the wheel (and an editable
install) has them as ``stagehouse.connectors``, ``stagehouse.tasks`` and ``stagehouse.flows``.
Subpackages are found, so a new one cannot be left out of the wheel. Everything else is in
pyproject.toml.
"""

from setuptools import find_packages, setup

LAYERS = ("connectors", "tasks", "flows")
found = find_packages(include=[f"{layer}*" for layer in LAYERS])

setup(
    packages=["stagehouse", *(f"stagehouse.{name}" for name in found)],
    package_dir={"stagehouse": "stagehouse", **{f"stagehouse.{layer}": layer for layer in LAYERS}},
)
