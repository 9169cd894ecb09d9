"""Find pipedag.yaml and the connections an instance declares under ``attrs.connections``.

pipedag merges ``instances.__any__`` with the chosen instance; we do the same for
``attrs.connections`` so each instance can point a connection elsewhere. This module reads the
file itself (connectors know nothing of pipedag); inside a running flow, tasks pass pipedag's
already-merged ``ConfigContext.attrs`` instead.

Example::

    specs = connection_specs(instance="postgres")
    specs["shop"]  # {'type': 'sql', 'url': 'postgresql://...'}
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stagehouse.connectors.errors import ConfigFileError
from stagehouse.connectors.placeholders import MalformedPlaceholder, expand

CONFIG_NAMES = ("pipedag.yaml", "pipedag.yml")
SAFE_LOADER = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)  # libyaml's parser where installed: pipedag.yaml is read often
DEFAULT_INSTANCE = "local"
WAREHOUSE = "warehouse"  # the reserved connection name of the instance's own table store


def default_instance() -> str:
    """The instance used when none is named: ``$STAGEHOUSE_INSTANCE``, else ``local``."""
    return os.environ.get("STAGEHOUSE_INSTANCE", DEFAULT_INSTANCE)


def find_config_file() -> Path:
    """``$PIPEDAG_CONFIG`` (a file or a folder), else the first pipedag.yaml from cwd upward."""
    if env := os.environ.get("PIPEDAG_CONFIG"):
        path = Path(env).expanduser().resolve()
        candidates = [path] if path.is_file() else [path / name for name in CONFIG_NAMES]
    else:
        cwd = Path.cwd().resolve()
        candidates = [folder / name for folder in (cwd, *cwd.parents) for name in CONFIG_NAMES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = os.environ.get("PIPEDAG_CONFIG") or f"{Path.cwd()} or its parents"
    raise ConfigFileError(f"no pipedag.yaml found in {where}; run from the project folder or set PIPEDAG_CONFIG")


def load_config_file(path: Path) -> dict[str, Any]:
    """The parsed YAML document, with a clear error for a broken file."""
    try:
        data = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read ({exc})", path=path) from exc
    except yaml.YAMLError as exc:
        raise _malformed(path, exc) from exc
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping at the top level", path=path)
    return data


def _malformed(path: Path, exc: yaml.YAMLError) -> ConfigFileError:
    """A one-line ConfigFileError naming file, line and column of a YAML parser error (the
    parser's own message spans four lines, of which the CLI would show the first)."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return ConfigFileError(f"{path}: not valid YAML ({' '.join(str(exc).split())})", path=path)
    problem = getattr(exc, "problem", None) or "not valid YAML"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    started = (
        f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
        if context and context_mark
        else ""
    )
    line, column = mark.line + 1, mark.column + 1
    return ConfigFileError(
        f"{path}, line {line}, column {column}: {problem}{started}; fix the YAML there",
        path=path,
        line=line,
        column=column,
        problem=problem,
    )


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``, nested dicts merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def instance_section(document: dict[str, Any], instance: str) -> dict[str, Any]:
    """``instances.__any__`` deep-merged with ``instances.<instance>``."""
    instances = document.get("instances") or {}
    if instance not in instances:
        known = ", ".join(k for k in instances if k != "__any__")
        raise ConfigFileError(f"instance '{instance}' is not in pipedag.yaml (instances: {known})", instance=instance)
    return deep_merge(instances.get("__any__") or {}, instances[instance] or {})


def connection_specs(instance: str | None = None, path: Path | None = None) -> tuple[dict[str, Any], Path]:
    """The raw connection declarations of an instance and the folder relative paths start from."""
    path = path or find_config_file()
    section = instance_section(load_config_file(path), instance or default_instance())
    return dict((section.get("attrs") or {}).get("connections") or {}), path.parent


@dataclass(frozen=True)
class StoreSettings:
    """Where an instance's table store is, and whether a client may create a missing database
    (the table store's ``create_database_if_not_exists``, as pipedag does at a run's start)."""

    instance: str
    url: str
    create_database_if_not_exists: bool = False
    instance_id: str | None = None  # the store's name in list_databases() on every store


def store_settings(instance: str | None = None, path: Path | None = None) -> StoreSettings:
    """The table store of ``instance``, its URL's placeholders resolved.

    pipedag fills ``{instance_id}`` itself and Stagehouse fills ``{project_dir}``; this does the
    same for clients that open the store without pipedag (``connect("warehouse")``).
    """
    path = path or find_config_file()
    name = instance or default_instance()
    section = instance_section(load_config_file(path), name)
    args = (section.get("table_store") or {}).get("args") or {}
    if not args.get("url"):
        raise ConfigFileError(f"{path}: instance '{name}' has no table_store.args.url", path=path)
    try:
        url = expand(args["url"])
    except MalformedPlaceholder as exc:
        raise ConfigFileError(
            f"{path}: instances.{name}.table_store.args.url: {exc}", path=path, placeholder=exc.placeholder
        ) from exc
    url = url.replace("{instance_id}", str(section.get("instance_id", ""))).replace(
        "{project_dir}", str(path.parent.resolve())
    )
    instance_id = section.get("instance_id")
    return StoreSettings(
        name, url, bool(args.get("create_database_if_not_exists", False)), str(instance_id) if instance_id else None
    )


def store_url(instance: str | None = None, path: Path | None = None) -> str:
    """The SQLAlchemy URL of an instance's table store (see ``store_settings``)."""
    return store_settings(instance, path).url
