"""Errors raised while turning source data into store tables."""

from __future__ import annotations

from connectors.errors import StagehouseError


class StoreWriteError(StagehouseError):
    """The table store refused data: a column type it cannot take, a full disk, a bad name."""

    def __init__(self, table: str, problem: str, column: str | None = None) -> None:
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"store {where}: {problem}", table=table, column=column, problem=problem)


class TaskDefinitionError(StagehouseError):
    """A task was declared wrongly (missing name, bad argument); raised while building the flow."""
