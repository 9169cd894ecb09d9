"""Load a project's pipedag.yaml the Stagehouse way: placeholders resolved before pipedag sees it.

On top of pipedag's own config handling this resolves, outside ``attrs.connections``:
``{$VAR:-default}`` placeholders (pipedag knows only ``{$VAR}``, with no default) and
``{project_dir}``, the folder holding pipedag.yaml, so relative data paths do not depend on
the working directory. Connection secrets stay unresolved until a connection is opened.
It lives in ``tasks`` (not ``flows``) because plain pipedag calls use it as their default
config once tasks are imported (see ``tasks/default_config.py``).

Example::

    config = config_context("postgres")
    flow.run(config=config)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydiverse.pipedag import ConfigContext, PipedagConfig

from stagehouse.connectors.errors import ConfigFileError
from stagehouse.connectors.placeholders import (
    MalformedPlaceholder,
    MissingEnvironmentVariable,
    check_placeholders,
    expand,
)
from stagehouse.connectors.settings import (
    deep_merge,
    default_instance,
    find_config_file,
    load_config_file,
)
from stagehouse.connectors.sql.url_spelling import sqlalchemy_spelling
from stagehouse.tasks.config_keys import check_config_keys
from stagehouse.tasks.connections import PROJECT_DIR_ATTR

PROJECT_DIR = "{project_dir}"


def _resolve(value: Any, project_dir: Path, path: tuple[str, ...], unset: dict[str, ConfigFileError]) -> Any:
    """``value`` with its placeholders expanded. An unset variable in one instance's own section is
    noted in ``unset`` (by instance) and its text kept: only a run on that instance needs it, so a
    run on ``local`` does not fail over the ``postgres`` instance's server variable."""
    if isinstance(value, dict):
        return {
            key: (
                _checked(item, (*path, key))
                if key == "connections" and path and path[-1] == "attrs"
                else _resolve(item, project_dir, (*path, key), unset)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_resolve(item, project_dir, path, unset) for item in value]
    if isinstance(value, str):
        try:
            expanded = expand(value).replace(PROJECT_DIR, str(project_dir))
            is_store_url = "table_store" in path and path[-2:] == ("args", "url")
            return sqlalchemy_spelling(expanded) if is_store_url else expanded
        except MissingEnvironmentVariable as exc:
            error = ConfigFileError(
                f"pipedag.yaml {'.'.join(path)}: environment variable {exc.name} is not set", variable=exc.name
            )
            if len(path) > 2 and path[0] == "instances" and path[1] != "__any__":
                unset.setdefault(path[1], error)
                return value
            raise error from exc
        except MalformedPlaceholder as exc:
            raise _malformed(exc, path) from exc
    return value


def _checked(value: Any, path: tuple[str, ...]) -> Any:
    """``value`` (the connections, expanded only when a connection is opened) as it is, once no
    string of it holds a malformed placeholder."""
    if isinstance(value, dict):
        for key, item in value.items():
            _checked(item, (*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            _checked(item, path)
    elif isinstance(value, str):
        try:
            check_placeholders(value)
        except MalformedPlaceholder as exc:
            raise _malformed(exc, path) from exc
    return value


def _malformed(exc: MalformedPlaceholder, path: tuple[str, ...]) -> ConfigFileError:
    return ConfigFileError(f"pipedag.yaml {'.'.join(path)}: {exc}", placeholder=exc.placeholder)


class ProjectConfig(PipedagConfig):
    """A PipedagConfig whose ``get()`` without an instance picks Stagehouse's default instance.

    pipedag's ``get()`` falls back to the ``__any__`` section, which in a Stagehouse project has
    no table store; a plain ``flow.run()`` should run on ``$STAGEHOUSE_INSTANCE`` or ``local``,
    as ``stagehouse run`` does. A file with neither (a plain pipedag project) keeps pipedag's way.
    ``unset``: per instance, the first unset environment variable its own section names (raised
    when that instance is asked for).
    """

    unset: dict[str, ConfigFileError]

    def get(self, instance: str | None = None, flow: str | None = None, per_user: bool = False) -> ConfigContext:
        if instance is None:
            name = default_instance()
            if name in self.instance_names() or "STAGEHOUSE_INSTANCE" in os.environ:
                instance = name
        if instance is not None and instance not in self.instance_names():
            known = ", ".join(self.instance_names())
            raise ConfigFileError(
                f"instance '{instance}' is not in pipedag.yaml (instances: {known}); name one of those (--instance, "
                "STAGEHOUSE_INSTANCE)",
                instance=instance,
            )
        if instance is not None and instance in self.unset:
            raise self.unset[instance]
        if instance is not None:
            check_config_keys(self.config_dict, instance)
        return super().get(instance=instance, flow=flow, per_user=per_user)

    def instance_names(self) -> list[str]:
        """The instances the file declares (``__any__`` is not one)."""
        return [name for name in self.config_dict.get("instances") or {} if name != "__any__"]


def pipedag_config(path: Path | None = None) -> ProjectConfig:
    """The project's PipedagConfig with placeholders resolved and ``attrs.project_dir`` set.

    ``path``: the pipedag.yaml; by default ``$PIPEDAG_CONFIG``, else the first from cwd upward.
    """
    path = (path or find_config_file()).resolve()
    unset: dict[str, ConfigFileError] = {}
    document = _resolve(load_config_file(path), path.parent, (), unset)
    project_dir = {"instances": {"__any__": {"attrs": {PROJECT_DIR_ATTR: str(path.parent)}}}}
    config = ProjectConfig(deep_merge(document, project_dir))
    config.path = path  # pipedag names the file in its errors
    config.unset = unset
    return config


def config_context(instance: str | None = None, path: Path | None = None) -> ConfigContext:
    """The ConfigContext of ``instance`` ($STAGEHOUSE_INSTANCE or 'local' when not named)."""
    return pipedag_config(path).get(instance=instance or default_instance())
