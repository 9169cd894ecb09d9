"""What a load of a versioned table is: its spec, its state and the committed load it follows.

The state is kept as JSON in the load's one-row record (``state``) beside the cursor's
high-water mark (``high_water``), and read back by the next run.

Example::

    LoadState.from_json('{"load": 3, "generation": 1, "closed": 0, "rows": 1020}').load   # 3
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import sqlalchemy as sa

FROM_LOAD, TO_LOAD = "_sh_from", "_sh_to"
STATE, HIGH_WATER = "state", "high_water"


@dataclass(frozen=True)
class LoadState:
    """The committed load number, the generation of the versions table it reads, the rows visible
    at it (what the run reports, without counting the table) and, on DuckDB, how many versions
    loads closed since the last clean-up deleted them (None where the store deletes them at once)."""

    load: int
    generation: int
    rows: int
    closed: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadState:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class CommittedLoad:
    """The committed load of a table: its state and the stage table (``state``, ``high_water``)
    it was read from, whose mark seeds the next one."""

    state: LoadState
    table: sa.TableClause
    high_water: object = None

    @property
    def has_mark(self) -> bool:
        return HIGH_WATER in self.table.c


@dataclass(frozen=True)
class LoadSpec:
    """How new rows join: ``append`` or ``merge`` by ``key`` (newest by ``cursor``), soft deletes."""

    mode: str
    key: list[str] | None = None
    cursor: str | None = None
    deleted_column: str | None = None
    on_conflict: str = "fail"
    on_removed_column: str = "fail"  # a committed column the new rows lack: refuse, or keep it NULL in them
    key_is_unique: bool = False  # the key is the source table's own primary key: no row repeats it
