"""``stagehouse init DIR``: write a new project that runs and tests as it is.

The files come from ``stagehouse/project-template`` (package data, so they ship in the wheel):
pipedag.yaml with a ``local`` DuckDB and a ``postgres`` instance, ``flows/example.py`` syncing
``seeds/orders.csv`` into a SQL transform, ``tests/test_flows.py`` on the ``stagehouse_project``
fixture, .gitignore, README.md, requirements.txt and a scheduled CI workflow. Dotfiles are kept
without their dot in the template (``gitignore``, ``github/``), which packaging tools skip or
treat specially, and get it back here.

Example::

    written = init_project(Path("shop"))   # then: cd shop && stagehouse run example && pytest
"""

from __future__ import annotations

import re
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from stagehouse.connectors.errors import StagehouseError

TEMPLATE = "project-template"
DOTTED = {"gitignore": ".gitignore", "github": ".github"}  # template name -> name in the project
SKIPPED = {"__pycache__", ".pytest_cache"}


class ProjectExistsError(StagehouseError):
    """``init`` was pointed at a folder that already holds a project or other files."""


def project_name(folder: Path) -> str:
    """The folder's name as an identifier, used for ``name`` and the ``instance_id``s.

    Example: ``project_name(Path("My Shop-2"))`` is ``my_shop_2``."""
    name = re.sub(r"[^a-z0-9_]+", "_", folder.resolve().name.lower()).strip("_") or "project"
    return name if not name[0].isdigit() else f"p_{name}"


def check_target(folder: Path) -> None:
    """Refuse a folder that has a pipedag.yaml, is not empty, or is a file: init never overwrites."""
    if folder.is_file():
        raise ProjectExistsError(f"{folder} is a file; pass a new or empty folder", path=str(folder))
    if not folder.is_dir():
        return
    for config in ("pipedag.yaml", "pipedag.yml"):
        if (folder / config).exists():
            raise ProjectExistsError(
                f"{folder / config} exists: {folder} is already a project; pass a new folder", path=str(folder)
            )
    if present := sorted(entry.name for entry in folder.iterdir()):
        shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
        raise ProjectExistsError(
            f"{folder} is not empty (it holds {shown}); pass a new or empty folder (init never overwrites files)",
            path=str(folder),
        )


def _template_files(root: Traversable, relative: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    found = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name in SKIPPED or entry.name.endswith(".pyc"):
            continue
        path = (*relative, entry.name)
        found.extend(_template_files(entry, path) if entry.is_dir() else [(path, entry)])
    return found


def _stagehouse_version() -> str:
    try:
        return metadata.version("stagehouse")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def init_project(folder: Path) -> list[Path]:
    """Write the template into ``folder`` (created if missing) and return the files written."""
    folder = Path(folder)
    check_target(folder)
    name = project_name(folder)
    values = {"@PROJECT_NAME@": name, "@INSTANCE_PREFIX@": name, "@STAGEHOUSE_VERSION@": _stagehouse_version()}
    written = []
    for parts, source in _template_files(resources.files("stagehouse") / TEMPLATE):
        target = folder.joinpath(DOTTED.get(parts[0], parts[0]), *parts[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        for token, value in values.items():
            text = text.replace(token, value)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
