"""``stagehouse check``: find what would fail a run, without running anything (like ``dbt debug``).

It parses pipedag.yaml, validates every connection declared for every instance (or one),
builds every flow without running it, and checks that each connection a flow's tasks name
(``sync``, ``writeback``, ``replicate``, anything marked with ``names_connections``) is declared
on the instance. With ``connect=True`` it reaches each distinct server, API, SFTP host and
folder once (``Connection.ping``). It creates and writes nothing: no store database, no lock
file, no table. A problem found on several instances is one problem naming them all.

Example::

    report = check_project(instance="postgres", connect=True)
    for problem in report.problems:
        print(problem)  # connection 'shop' (instance postgres): …: connection refused; start the server or fix url
    report.ok           # False when anything was found
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from stagehouse.connectors.errors import ConfigFileError, ConnectionConfigError, StagehouseError, first_line
from stagehouse.connectors.placeholders import PLACEHOLDER, MissingEnvironmentVariable
from stagehouse.connectors.registry import connect as build_connection
from stagehouse.connectors.settings import find_config_file, instance_section, load_config_file
from stagehouse.flows.config import pipedag_config
from stagehouse.flows.stage_names import is_reserved
from stagehouse.tasks.config_keys import config_problems, top_level_problems

UNREACHABLE_FIX = {
    "sql": "start the server or fix url (host, port, database, user)",
    "rest": "check base_url, auth and that the API is up",
    "sftp": "check host, port, credentials, host_key or known_hosts, and path",
    "files": "create the folder or fix path",
}
MASK = "***"
# connection kinds whose syncs must name an object the declaration lists: kind -> its field
DECLARED_OBJECTS = {"rest": "objects"}


class CheckProblem(StagehouseError):
    """One thing ``stagehouse check`` found that would fail a run: where, what, and the fix."""

    def __init__(self, where: str, what: str, fix: str) -> None:
        super().__init__(
            f"{where + ': ' if where else ''}{what}{'; ' + fix if fix else ''}", where=where, what=what, fix=fix
        )


@dataclass
class CheckReport:
    """What ``check_project`` looked at and the problems it found (empty: the project is fine)."""

    instances: list[str] = field(default_factory=list)
    connections: int = 0
    flows: int = 0
    reached: int | None = None  # distinct declarations that answered; None without connect=True
    problems: list[CheckProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: ``OK: 3 connections (3 reached) and 2 flows checked on instance local``, or
        the problem count first."""
        reached = "" if self.reached is None else f" ({self.reached} reached)"
        if not self.instances:
            return f"{_plural(len(self.problems), 'problem')}: nothing else was checked"
        counted = (
            f"{_plural(self.connections, 'connection')}{reached} and {_plural(self.flows, 'flow')} checked on "
            f"{_on(self.instances)}"
        )
        return f"OK: {counted}" if self.ok else f"{_plural(len(self.problems), 'problem')}: {counted}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _on(instances: list[str]) -> str:
    return f"instance{'' if len(instances) == 1 else 's'} {', '.join(instances)}"


class _Findings:
    """Problems keyed by (where, what, fix), each with the instances it was found on."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str, str], list[str]] = {}

    def add(self, where: str, what: str, fix: str, instance: str | None = None) -> None:
        instances = self.found.setdefault((where, what, fix), [])
        if instance and instance not in instances:
            instances.append(instance)

    def problems(self, secrets: set[str]) -> list[CheckProblem]:
        def masked(text: str) -> str:
            for secret in secrets:
                text = text.replace(secret, MASK)
            return text

        return [
            CheckProblem(masked(f"{where} ({_on(on)})" if on else where), masked(what), fix)
            for (where, what, fix), on in self.found.items()
        ]


def _message(exc: BaseException) -> str:
    """An error's first line; a Stagehouse error's own problem text without the name prefix."""
    if isinstance(exc, ConnectionConfigError):
        text = str(exc.problem)
    else:
        text = str(exc) if isinstance(exc, StagehouseError) else f"{type(exc).__name__}: {exc}"
    return first_line(text, type(exc).__name__)


def _secrets(value: Any) -> set[str]:
    """The values of the environment variables a declaration's placeholders name (never printed)."""
    if isinstance(value, dict):
        return set().union(*(_secrets(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_secrets(item) for item in value))
    if isinstance(value, str):
        return {os.environ[name] for name, _ in PLACEHOLDER.findall(value) if len(os.environ.get(name, "")) >= 3}
    return set()


def check_project(instance: str | None = None, *, connect: bool = False, path: Path | None = None) -> CheckReport:
    """Check pipedag.yaml, its connections and every flow (on ``instance``, else on every instance);
    with ``connect`` reach each declared system once."""
    report = CheckReport(reached=0 if connect else None)
    findings = _Findings()
    try:
        path = (path or find_config_file()).resolve()
        document = load_config_file(path)
        unset = pipedag_config(path).unset  # resolves every placeholder outside attrs.connections, as a run does
        names = [instance] if instance else [name for name in document.get("instances") or {} if name != "__any__"]
        if instance in unset:
            raise unset[instance]
        sections = {name: instance_section(document, name) for name in names}
    except ConfigFileError as exc:
        report.problems = [CheckProblem("", _message(exc), _config_fix(exc))]
        return report
    for problem in dict.fromkeys(
        top_level_problems(document) + [p for n in names for p in config_problems(document, n)]
    ):
        findings.add("", problem, "")
    for name in [name for name in names if name in unset]:  # the other instances are still checked
        findings.add("", _message(unset[name]), _config_fix(unset[name]))
        names.remove(name)
        del sections[name]
    report.instances = names
    specs = {name: dict((section.get("attrs") or {}).get("connections") or {}) for name, section in sections.items()}
    report.connections = len({name for declared in specs.values() for name in declared})
    opened = _open_connections(specs, path, findings)
    try:
        report.flows = _check_flows(specs, findings)
        if connect:
            report.reached = _reach(specs, opened, findings)
            _reach_stores(path, names, findings)
            _reach_schedulers(path, sections, findings, named=instance is not None)
    finally:
        for connections in opened.values():
            for conn in connections.values():
                conn.close()
    report.problems = findings.problems(_secrets(specs))
    return report


def _reach_stores(path: Path, instances: list[str], findings: _Findings) -> None:
    """Each instance's table store answers (its server, or a DuckDB file's folder)."""
    from stagehouse.flows.store_reach import STORE_FIX, store_problem, store_settings

    document = pipedag_config(path).config_dict
    for instance in instances:
        url, create = store_settings(instance_section(document, instance))
        if problem := store_problem(url, create):
            findings.add(
                f"store of instance '{instance}'",
                f"{make_url(url).render_as_string(hide_password=True)}: {problem}",
                STORE_FIX,
                instance,
            )


def _reach_schedulers(path: Path, raw: dict[str, dict[str, Any]], findings: _Findings, named: bool) -> None:
    """Each ``cluster`` instance's Dask scheduler answers (distributed is imported only for one).
    Checking every instance (not ``named``), one with no address given is left out: a project
    that does not use its cluster yet (``stagehouse init``'s) passes."""
    from stagehouse.flows.scheduler_reach import scheduler_problem

    document = pipedag_config(path).config_dict
    for instance, section in raw.items():
        try:
            problem = scheduler_problem(instance, instance_section(document, instance), section)
        except StagehouseError as exc:  # the dask extra is not installed
            findings.add(f"Dask scheduler of instance '{instance}'", _message(exc), "")
            continue
        if problem is not None and (problem.scheduler or named):  # the same line a run would stop with
            address = problem.scheduler or "empty address"
            findings.add(f"Dask scheduler of instance '{instance}' ({address})", problem.problem, problem.fix)


def _config_fix(exc: ConfigFileError) -> str:
    """The fix of a pipedag.yaml problem (a missing or malformed file's message has its own)."""
    if variable := getattr(exc, "variable", None):
        return f"export {variable}, or give it a default: {{${variable}:-default}}"
    if getattr(exc, "instance", None):
        return "name one of those with --instance"
    return ""


def _open_connections(specs: dict[str, dict[str, Any]], path: Path, findings: _Findings) -> dict[str, dict[str, Any]]:
    """Each instance's connection objects (built, not opened: nothing is reached yet)."""
    opened: dict[str, dict[str, Any]] = {}
    for instance, declared in specs.items():
        opened[instance] = {}
        for name in declared:
            try:
                opened[instance][name] = build_connection(name, specs=declared, base_dir=path.parent)
            except StagehouseError as exc:
                unset = isinstance(exc.__cause__, MissingEnvironmentVariable)  # the message says: export it
                findings.add(
                    f"connection '{name}'",
                    _message(exc),
                    "" if unset else f"fix attrs.connections.{name} in {path}",
                    instance,
                )
    return opened


def _check_flows(specs: dict[str, dict[str, Any]], findings: _Findings) -> int:
    """Build every flow of the project; the connections its tasks name must be declared on every
    instance. The shipped demo (``nycflights``) is the project's only in Stagehouse's own repo:
    elsewhere it is not checked (its connection is not the project's to declare)."""
    from stagehouse.flows.catalog import PACKAGE_DIR, load_flow, project_flows_folder, scan_flows
    from stagehouse.flows.runner import root_error
    from stagehouse.tasks.connections import undeclared_connections

    modules, broken = scan_flows()
    project = project_flows_folder()
    if project is None or project.resolve() != PACKAGE_DIR.resolve():
        modules = [module for module in modules if module.path.parent.resolve() != PACKAGE_DIR.resolve()]
    for file, exc in broken.items():
        findings.add(f"flow '{file.stem}' ({file})", _message(exc), "fix the module and run `stagehouse check` again")
    stage_flows: dict[str, list[str]] = {}  # stage -> the flows that have it: each would replace the others' tables
    for module in modules:
        try:
            flow = load_flow(module.name)
        except Exception as exc:  # any error of the user's build_flow(): reported, the check goes on
            findings.add(
                f"flow '{module.name}' ({module.path})",
                f"build_flow() failed: {_message(root_error(exc) or exc)}",
                "fix the flow and run `stagehouse check` again",
            )
            continue
        for stage in flow.stages:
            stage_flows.setdefault(stage, []).append(module.name)
            if is_reserved(stage):
                findings.add(
                    f"flow '{module.name}', stage '{stage}'",
                    "starts with 'pg_', which PostgreSQL reserves",
                    f"rename the stage in {module.path}",
                )
        for instance, declared in specs.items():
            for name, naming in undeclared_connections(flow.tasks, declared).items():
                where = f"flow '{module.name}', task{'s' if len(naming) > 1 else ''} {', '.join(naming)}"
                known = ", ".join(sorted(declared)) or "none declared"
                fix = f"declare it under attrs.connections in pipedag.yaml or fix the name in {module.path}"
                findings.add(where, f"connection '{name}' is not declared (known: {known})", fix, instance)
        _check_sync_objects(module, flow, specs, findings)
        _check_partitions(module, flow, specs, findings)
    for stage, flows in stage_flows.items():
        if len(flows) > 1:
            findings.add(
                f"stage '{stage}'",
                f"is a stage of flows {', '.join(flows)}: each run's commit replaces the other flows' tables "
                "(a stage is a schema shared by every flow of an instance)",
                "give each flow's stages names of their own",
            )
    return len(modules) + len(broken)


def _check_sync_objects(module: Any, flow: Any, specs: dict[str, dict[str, Any]], findings: _Findings) -> None:
    """Each sync of a connection kind that lists its objects (REST) names one it lists: a typo
    like ``contactz`` is found here, not by the run."""
    from stagehouse.tasks.sync import sync_source

    for task in flow.tasks:
        source = sync_source(task)
        if source is None:
            continue
        name, obj = source
        for instance, declared in specs.items():
            found = declared.get(name)
            spec: dict[str, Any] = found if isinstance(found, dict) else {}
            listing = DECLARED_OBJECTS.get(spec.get("type", ""))
            objects = (spec.get(listing) or {}) if listing else {}
            if listing and obj not in objects:
                findings.add(
                    f"flow '{module.name}', task {task._name}",
                    f"connection '{name}' has no object '{obj}' (known: "
                    f"{', '.join(sorted(objects)) or 'none declared'})",
                    f"declare it under {listing} of '{name}' in pipedag.yaml or fix the name in {module.path}",
                    instance,
                )


def _check_partitions(module: Any, flow: Any, specs: dict[str, dict[str, Any]], findings: _Findings) -> None:
    """A ``sync(..., partitions=K)`` reads a SQL source: on a file set or a REST API it is refused."""
    from stagehouse.tasks.sync_partitions import FIX, unpartitionable

    for instance, declared in specs.items():
        for sync in unpartitionable(flow.tasks, declared):
            findings.add(
                f"flow '{module.name}', task {sync.task}", sync.problem(), f"{FIX} (in {module.path})", instance
            )


def _reach(specs: dict[str, dict[str, Any]], opened: dict[str, dict[str, Any]], findings: _Findings) -> int:
    """Ping each distinct declaration once; a failure is reported on every instance that has it.
    Returns how many answered."""
    outcomes: dict[tuple[str, str], str | None] = {}
    for instance, connections in opened.items():
        for name, conn in connections.items():
            key = (name, json.dumps(specs[instance][name], sort_keys=True, default=str))
            if key not in outcomes:
                outcomes[key] = _ping(conn)
            if (outcome := outcomes[key]) is not None:
                kind = specs[instance][name].get("type")
                findings.add(
                    f"connection '{name}'", outcome, UNREACHABLE_FIX.get(kind, "check its declaration"), instance
                )
    return sum(outcome is None for outcome in outcomes.values())


def _ping(conn: Any) -> str | None:
    """None when ``conn`` answered, else what went wrong (one line)."""
    try:
        conn.ping()
    except Exception as exc:  # a driver's own error is as much an answer as ours
        message = _message(exc)
        prefix = f"connection '{conn.name}', "
        return message.removeprefix(prefix)
    return None
