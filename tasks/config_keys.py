"""pipedag.yaml's keys checked against what pipedag reads, before anything runs.

pipedag ignores a key it does not know: ``stage_commit_tecnique: READ_VIEWS`` runs with the
default technique, a lock manager's ``base_pth`` fails deep inside as ``KeyError: 'base_path'``.
This names each such key with its place in the file and the key it most likely means. The keys
come from pipedag itself (its default config and the sections its ConfigContext loads); the
arguments of the blob stores, lock managers and engines pipedag ships are listed here, as their
``_init_conf_`` reads them by hand.

Example::

    config_problems(document, "local")
    # ["pipedag.yaml instances.local: pipedag reads no key 'stage_commit_tecnique'; did you mean
    #   stage_commit_technique? (an unknown key is ignored: the run would use the default)"]
"""

from __future__ import annotations

import difflib
from typing import Any

from pydiverse.common.util.import_ import import_object
from pydiverse.pipedag.context.context import default_config_dict

from stagehouse.connectors.errors import ConfigFileError
from stagehouse.connectors.settings import instance_section
from stagehouse.tasks.store_args import unknown_store_args

TOP_KEYS = frozenset(
    {
        "name",
        "strict_instance_lookup",
        "instances",
        "flows",
        "technical_setups",
        "table_store_connections",
        "blob_store_connections",
    }
)
SECTIONS = frozenset({"table_store", "blob_store", "lock_manager", "orchestration"})
INSTANCE_KEYS = frozenset(default_config_dict) | SECTIONS | {"instance_id", "visualization", "technical_setup"}
# class -> (the args its _init_conf_ reads, those it cannot do without)
COMPONENT_ARGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "pydiverse.pipedag.backend.blob.FileBlobStore": (frozenset({"base_path"}), frozenset({"base_path"})),
    "pydiverse.pipedag.backend.blob.NoBlobStore": (frozenset(), frozenset()),
    "pydiverse.pipedag.backend.lock.FileLockManager": (frozenset({"base_path"}), frozenset({"base_path"})),
    "pydiverse.pipedag.backend.lock.DatabaseLockManager": (frozenset(), frozenset()),
    "pydiverse.pipedag.backend.lock.NoLockManager": (frozenset(), frozenset()),
    "pydiverse.pipedag.engine.SequentialEngine": (frozenset(), frozenset()),
}


def top_level_problems(document: dict[str, Any]) -> list[str]:
    """Unknown top-level keys of the file."""
    return [_unknown("pipedag.yaml", key, TOP_KEYS) for key in document if key not in TOP_KEYS]


def config_problems(document: dict[str, Any], instance: str) -> list[str]:
    """What is wrong with an instance's keys (its own section and ``__any__``'s) and the args of
    its table store, blob store, lock manager and orchestration engine."""
    instances = document.get("instances") or {}
    problems = [
        _unknown(f"pipedag.yaml instances.{name}", key, INSTANCE_KEYS)
        for name in ("__any__", instance)
        for key in instances.get(name) or {}
        if key not in INSTANCE_KEYS
    ]
    section = instance_section(document, instance)
    if problem := unknown_store_args(section, instance):
        problems.append(problem)
    problems.extend(_component_problems(section, instance))
    return problems


def check_config_keys(document: dict[str, Any], instance: str) -> None:
    """Raise ``ConfigFileError`` for the first problem ``config_problems`` finds."""
    if problems := top_level_problems(document) + config_problems(document, instance):
        raise ConfigFileError(problems[0], instance_keys=instance)


def _component_problems(section: dict[str, Any], instance: str) -> list[str]:
    problems = []
    for name in ("blob_store", "lock_manager", "orchestration"):
        spec = section.get(name)
        if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
            continue
        args = spec.get("args") or {}
        known = _known_args(spec["class"])
        if known is None or not isinstance(args, dict):
            continue
        accepted, required = known
        where = f"pipedag.yaml instances.{instance}.{name}.args"
        kind = spec["class"].rpartition(".")[2]
        for key in args:
            if key not in accepted:
                hint = _did_you_mean(key, accepted)
                takes = f"arguments: {', '.join(sorted(accepted))}" if accepted else "it takes none"
                problems.append(f"{where}: {kind} takes no argument '{key}'{hint} ({takes})")
        problems.extend(f"{where}: {kind} needs '{key}'" for key in sorted(required - set(args)))
    return problems


def _known_args(class_path: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """The args of a class pipedag ships (named by any import path it has), else None."""
    try:
        chosen = import_object(class_path)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None  # pipedag names a class it cannot load itself
    for path, known in COMPONENT_ARGS.items():
        if import_object(path) is chosen:
            return known
    return None


def _unknown(where: str, key: object, known: frozenset[str]) -> str:
    return (
        f"{where}: pipedag reads no key '{key}'{_did_you_mean(key, known)} (an unknown key is ignored: "
        "the run would go on without it)"
    )


def _did_you_mean(key: object, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(str(key), sorted(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""
