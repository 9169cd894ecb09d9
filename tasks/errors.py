"""Errors raised while turning source data into store tables."""

from __future__ import annotations

from stagehouse.connectors.errors import StagehouseError


class StoreWriteError(StagehouseError):
    """The table store refused data: a column type it cannot take, a full disk, a bad name."""

    table: str
    problem: str
    column: str | None

    def __init__(self, table: str, problem: str, column: str | None = None) -> None:
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"store {where}: {problem}", table=table, column=column, problem=problem)


class NullKeyError(StoreWriteError):
    """New rows have a NULL in their primary key: a merge could never replace them (NULL matches
    nothing), so they would pile up; refused before anything is written."""

    def __init__(self, source: str | None, table: str, key: list[str], rows: int) -> None:
        where = f"{source}, store table '{table}'" if source else f"store table '{table}'"
        problem = (
            f"primary key {', '.join(key)} is NULL in {rows} new row{'s' if rows != 1 else ''}; nothing was committed "
            "— "
            "give those rows a key in the source, or choose primary_key= columns that are never NULL"
        )
        StagehouseError.__init__(
            self, f"{where}: {problem}", source=source, table=table, key=key, rows=rows, column=None, problem=problem
        )


class DuplicateKeyError(StoreWriteError):
    """New rows repeat a primary key value: the table would not be keyed by it; refused before
    anything is committed."""

    def __init__(self, source: str | None, table: str, key: list[str], value: dict, times: int) -> None:
        where = f"{source}, store table '{table}'" if source else f"store table '{table}'"
        problem = (
            f"primary key {', '.join(key)} is not unique: {value} occurs {times} times; nothing was committed — "
            "remove the repeated rows in the source, or choose primary_key= columns that identify a row"
        )
        StagehouseError.__init__(
            self,
            f"{where}: {problem}",
            source=source,
            table=table,
            key=key,
            value=value,
            times=times,
            column=None,
            problem=problem,
        )


class RemovedColumnError(StoreWriteError):
    """A committed column is missing from a source that declares its columns: it was dropped or
    renamed there, and new rows (a merge's updated rows too) would silently hold NULL in it."""

    def __init__(self, source: str, table: str, missing: list[str], found: list[str]) -> None:
        names = ", ".join(f"'{name}'" for name in missing)
        problem = (
            f"column {names} of the committed table is no longer in the source (it has: {', '.join(found)}); nothing "
            "was committed — if it was renamed or dropped on purpose, rebuild the table with stagehouse run FLOW "
            "--full-refresh, or set on_removed_column: keep on the connection to keep it, NULL in new rows"
        )
        StagehouseError.__init__(
            self,
            f"{source}, store table '{table}': {problem}",
            source=source,
            table=table,
            missing=missing,
            found=found,
            column=missing[0],
            problem=problem,
        )


class TaskDefinitionError(StagehouseError):
    """A task was declared wrongly (missing name, bad argument); raised while building the flow."""


class LogLevelError(StagehouseError):
    """``$STAGEHOUSE_LOG_LEVEL`` names no logging level."""

    def __init__(self, variable: str, value: str) -> None:
        super().__init__(
            f"{variable}={value} is not a log level; use DEBUG, INFO, WARNING or ERROR", variable=variable, value=value
        )


class SyncColumnError(StagehouseError):
    """A column a sync names (primary_key, cursor, deleted_column) is not among the columns it read, or has
    the wrong type."""

    def __init__(self, source: str, argument: str, column: str, problem: str) -> None:
        super().__init__(
            f"{source}: {argument} '{column}' {problem}",
            source=source,
            argument=argument,
            column=column,
            problem=problem,
        )
