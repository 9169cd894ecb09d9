"""Load pipedag.yaml the Stagehouse way and quiet pipedag's logging.

On top of pipedag's own config handling this resolves, outside ``attrs.connections``:
``{$VAR:-default}`` placeholders (pipedag knows only ``{$VAR}``, with no default) and
``{project_dir}``, the folder holding pipedag.yaml, so relative data paths do not depend on
the working directory. Connection secrets stay unresolved until a connection is opened.

Example::

    config = config_context("postgres")
    flow.run(config=config)
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from pydiverse.common.util.structlog import setup_logging
from pydiverse.pipedag import ConfigContext, PipedagConfig

from stagehouse.connectors.errors import ConfigFileError
from stagehouse.connectors.placeholders import MissingEnvironmentVariable, expand
from stagehouse.connectors.settings import deep_merge, default_instance, find_config_file, load_config_file
from stagehouse.tasks.connections import PROJECT_DIR_ATTR

PROJECT_DIR = "{project_dir}"


def _resolve(value: Any, project_dir: Path, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {
            key: (item if key == "connections" and path and path[-1] == "attrs" else _resolve(item, project_dir, (*path, key)))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_resolve(item, project_dir, path) for item in value]
    if isinstance(value, str):
        try:
            return expand(value).replace(PROJECT_DIR, str(project_dir))
        except MissingEnvironmentVariable as exc:
            raise ConfigFileError(
                f"pipedag.yaml {'.'.join(path)}: environment variable {exc.name} is not set", variable=exc.name
            ) from exc
    return value


def pipedag_config(path: Path | None = None) -> PipedagConfig:
    """The project's PipedagConfig with placeholders resolved and ``attrs.project_dir`` set."""
    path = (path or find_config_file()).resolve()
    document = _resolve(load_config_file(path), path.parent, ())
    project_dir = {"instances": {"__any__": {"attrs": {PROJECT_DIR_ATTR: str(path.parent)}}}}
    return PipedagConfig(deep_merge(document, project_dir))


def config_context(instance: str | None = None, path: Path | None = None) -> ConfigContext:
    """The ConfigContext of ``instance`` ($STAGEHOUSE_INSTANCE or 'local' when not named)."""
    config = pipedag_config(path)
    name = instance or default_instance()
    known = [k for k in config.config_dict.get("instances", {}) if k != "__any__"]
    if name not in known:
        raise ConfigFileError(f"instance '{name}' is not in pipedag.yaml (instances: {', '.join(known)})", instance=name)
    return config.get(instance=name)


class _DropReportedFailures(logging.Filter):
    """Drops pipedag's per-task failure tracebacks: the runner reports each failure as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, dict) and str(record.msg.get("event", "")).startswith("Task failed"))


def setup_quiet_logging(level: int = logging.WARNING, show_task_tracebacks: bool = False) -> None:
    """pipedag logs every IPC message at DEBUG; Stagehouse shows warnings unless asked for more."""
    setup_logging(log_level=level)
    if not show_task_tracebacks:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_DropReportedFailures())
    warnings.filterwarnings("ignore", message="duckdb-engine doesn't yet support reflection on indices")
