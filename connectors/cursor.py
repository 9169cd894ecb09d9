"""Cursor filters: "only rows whose cursor column is past the last synced value".

Syncs re-read the last value too (``>=``): rows sharing the last timestamp may have arrived after
the previous sync (a record saved in the same second, a file with the same whole-second time). A
merge by primary key makes reading them twice harmless; an append drops the rows it already holds
at the last value (``tasks.merge.not_loaded_yet``).

Example::

    CursorFilter("updated_at", last_value, inclusive=True).condition()  # updated_at >= :param
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class CursorFilter:
    """Rows with ``column`` greater than (or, inclusive, equal to) ``value``."""

    column: str
    value: Any
    inclusive: bool = False

    def condition(self) -> sa.ColumnElement[bool]:
        """The filter as a SQLAlchemy condition, to compile for any dialect."""
        column: sa.ColumnClause[Any] = sa.column(self.column)
        value = sa.literal(self.value)
        return column >= value if self.inclusive else column > value


def high_water_mark(engine: sa.Engine, table: sa.Table, column: str) -> Any:
    """``max(column)`` of ``table`` (None when it is empty): where an incremental read resumes."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(table.c[column]))).scalar()
