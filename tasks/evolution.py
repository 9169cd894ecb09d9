"""Schema evolution between a committed table and the rows of a new sync.

New source columns are added; compatible type changes widen (int -> bigint -> numeric -> double,
decimal(15,2) and decimal(12,4) -> decimal(17,4), varchar(n) -> longer varchar -> text,
date -> timestamp); a column all NULL in the new rows takes the committed type; an incompatible
change (text arriving in an integer column) fails with the table, column, both types and the first offending value —
or, when the connection sets ``on_type_conflict: variant``, the values that do not fit land in a
text column ``<column>__v_text`` beside it. The committed table is never altered: the new table
is built beside it and commits with the stage, or not at all.

Types are the store's own type names (``information_schema.columns.data_type``), not
SQLAlchemy's reflection, which maps DuckDB's DOUBLE to FLOAT and drops time zones; a column whose
type did not change is passed through uncast.

Example::

    plan = evolve(store_engine, base, delta, "orders", on_conflict="fail")
    plan.columns  # [ColumnPlan("id", base_expr, delta_expr), ...]
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import sqlalchemy as sa

from stagehouse.connectors.errors import StagehouseError
from stagehouse.connectors.sql.described import NativeType, native_spec
from stagehouse.connectors.sql.dialects import dialect_of
from stagehouse.tasks.errors import StoreWriteError

VARIANT_SUFFIX = "__v_text"
NUMBER_RANKS = {
    "tinyint": 0.5,
    "smallint": 1,
    "int2": 1,
    "integer": 2,
    "int": 2,
    "int4": 2,
    "bigint": 3,
    "int8": 3,
    "hugeint": 3.5,
    "decimal": 4,
    "numeric": 4,
    "real": 4.5,
    "float4": 4.5,
    "float": 4.5,
    "double": 5,
    "double precision": 5,
    "float8": 5,
}
DECIMAL = re.compile(r"^(?P<base>numeric|decimal)\s*\(\s*(?P<precision>\d+)\s*,\s*(?P<scale>\d+)\s*\)$", re.IGNORECASE)
ISO_TEMPORAL = r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[-+]\d{2}(:?\d{2})?)?\s*$"
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
CAST_GUARDS = {
    "number": NUMBER,
    "temporal": ISO_TEMPORAL,
    "timestamptz": ISO_TEMPORAL,
}  # text a cast of the class takes
TEXT_NAMES = {"varchar", "character varying", "text", "string", "char", "character", "bpchar"}


class SchemaConflictError(StoreWriteError):
    """New rows bring a column type that the committed column cannot take."""

    def from_source(self, source: str) -> SchemaConflictError:
        """The same refusal, its message starting with the source it came from."""
        error = SchemaConflictError(self.table, self.problem, self.column)
        StagehouseError.__init__(error, f"{source}, {error}", **error.fields, source=source)
        return error


def _shown(value: object) -> str:
    """A value as a message shows it: text quoted, a date or time as ISO text, not Python's repr."""
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return repr(value)


def type_class(spec: str) -> tuple[str, float]:
    """(family, rank) of a store type name: types of one family widen into the higher rank."""
    text = spec.lower().strip()
    base = re.sub(r"\(.*\)", "", text).strip()
    if base in ("boolean", "bool"):
        return "bool", 0
    if base in NUMBER_RANKS:
        return "number", NUMBER_RANKS[base]
    if base == "date":
        return "temporal", 1
    if base in ("timestamp", "timestamp without time zone", "datetime", "timestamp_ns", "timestamp_ms", "timestamp_s"):
        return "temporal", 2
    if base in ("timestamp with time zone", "timestamptz"):
        return "timestamptz", 0
    if base in TEXT_NAMES:
        length = re.search(r"\((\d+)\)", text)
        return "text", int(length.group(1)) if length else math.inf
    if base in ("null", '"null"'):
        return "null", 0
    return f"other:{text}", 0


@dataclass(frozen=True)
class ColumnPlan:
    """One column of the new table and how each side (committed, new rows) produces it."""

    name: str
    base: sa.ColumnElement
    delta: sa.ColumnElement


@dataclass(frozen=True)
class EvolutionPlan:
    """The new table's columns, in order: committed columns first, then new ones."""

    columns: list[ColumnPlan]


def column_types(table: sa.FromClause) -> dict[str, str]:
    """The store's type name of each column of ``table``, as ``described_table`` read them (no
    second catalog query: each costs a few milliseconds, and a load compares several tables)."""
    return {column.name: native_spec(column.type) for column in table.columns}


def _try_cast(engine: sa.Engine, column: sa.ColumnElement, target: str) -> sa.ColumnElement | None:
    """``column`` cast to ``target``, NULL where it does not fit; None if the store cannot say."""
    return dialect_of(engine).try_cast(column, NativeType(target), CAST_GUARDS.get(type_class(target)[0]))


def wider_decimal(old_type: str, new_type: str) -> str | None:
    """The decimal type that holds both ``decimal(p,s)`` types (the integer digits and the scale
    of the wider of each), spelled as the committed one; None unless both are such decimals."""
    old, new = DECIMAL.match(old_type.strip()), DECIMAL.match(new_type.strip())
    if not (old and new):
        return None
    (p1, s1), (p2, s2) = (int(old["precision"]), int(old["scale"])), (int(new["precision"]), int(new["scale"]))
    scale = max(s1, s2)
    precision = max(p1 - s1, p2 - s2) + scale
    return old_type if (precision, scale) == (p1, s1) else f"{old['base']}({precision},{scale})"


def _has_values(engine: sa.Engine, delta: sa.Table, name: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(delta.c[name]).where(delta.c[name].is_not(None)).limit(1)).first() is not None


def _refusal(engine: sa.Engine, delta: sa.Table, name: str, old_type: str, new_type: str) -> str:
    """Why the new values of column ``name`` cannot go into ``old_type``: the first that fails
    the cast, or, when none fails, what the values are (none at all, or all castable)."""
    column = delta.c[name]
    fits = _try_cast(engine, column, old_type)
    with engine.connect() as conn:
        if fits is not None:
            bad = conn.execute(sa.select(column).where(column.is_not(None), fits.is_(None)).limit(1)).first()
            if bad is not None:
                return f"first value that does not cast to {old_type}: {_shown(bad[0])}"
        first = conn.execute(sa.select(column).where(column.is_not(None)).limit(1)).first()
    if first is None:
        return f"the new rows hold no value in it (all NULL), but the source now types it {new_type}"
    if fits is None:
        return f"first value {_shown(first[0])} (this store cannot test which values fit {old_type})"
    return (
        f"every new value casts to {old_type} (the first: {_shown(first[0])}), but the source now types it {new_type}, "
        f"which is not widened into {old_type}"
    )


def evolve(engine: sa.Engine, base: sa.Table, delta: sa.Table, table: str, on_conflict: str = "fail") -> EvolutionPlan:
    """How the committed ``base`` and the new ``delta`` rows combine into one table."""
    base_types, delta_types = column_types(base), column_types(delta)
    plans: list[ColumnPlan] = []
    for name, old_type in base_types.items():
        if name.endswith(VARIANT_SUFFIX) and name.removesuffix(VARIANT_SUFFIX) in delta_types:
            continue
        old = base.c[name]
        if name not in delta_types:
            plans.append(ColumnPlan(name, old, sa.cast(sa.null(), NativeType(old_type))))
            continue
        new, new_type = delta.c[name], delta_types[name]
        (old_family, old_rank), (new_family, new_rank) = type_class(old_type), type_class(new_type)
        wider = wider_decimal(old_type, new_type)
        if new_type == old_type:
            plans.append(ColumnPlan(name, old, new))
        elif wider is not None:
            plans.append(
                ColumnPlan(
                    name, old if wider == old_type else sa.cast(old, NativeType(wider)), sa.cast(new, NativeType(wider))
                )
            )
        elif new_family == "null" or (old_family == new_family and new_rank <= old_rank):
            plans.append(ColumnPlan(name, old, sa.cast(new, NativeType(old_type))))
        elif old_family == new_family or old_family == "null":
            plans.append(ColumnPlan(name, sa.cast(old, NativeType(new_type)), new))
        else:
            plans.extend(_conflict(engine, base, delta, table, name, old_type, new_type, on_conflict))
    for name, new_type in delta_types.items():
        if name not in base_types:
            plans.append(ColumnPlan(name, sa.cast(sa.null(), NativeType(new_type)), delta.c[name]))
    return EvolutionPlan(plans)


def _conflict(
    engine, base, delta, table, name: str, old_type: str, new_type: str, on_conflict: str
) -> list[ColumnPlan]:
    new = delta.c[name]
    if not _has_values(engine, delta, name):  # all NULL (a REST field with no value in this batch): no conflict
        return [ColumnPlan(name, base.c[name], sa.cast(sa.null(), NativeType(old_type)))]
    fits = _try_cast(engine, new, old_type) if on_conflict == "variant" else None
    if fits is None:
        reason = _refusal(engine, delta, name, old_type, new_type)
        hint = (
            "cast it in the source (a query=, the connection's csv types or an object's types), or set "
            "on_type_conflict: variant on the connection"
        )
        raise SchemaConflictError(
            table,
            f"new rows bring type {new_type} where the committed column is {old_type}; {reason}; {hint}",
            column=name,
        )
    variant = f"{name}{VARIANT_SUFFIX}"
    base_variant = base.c[variant] if variant in base.c else sa.cast(sa.null(), sa.Text)
    delta_variant = sa.case((sa.and_(new.is_not(None), fits.is_(None)), sa.cast(new, sa.Text)), else_=None)
    return [ColumnPlan(name, base.c[name], fits), ColumnPlan(variant, base_variant, delta_variant)]
