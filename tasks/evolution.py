"""Schema evolution between a committed table and the rows of a new sync.

New source columns are added; compatible type changes widen (int -> bigint -> numeric -> double,
varchar(n) -> longer varchar -> text, date -> timestamp); an incompatible change (text arriving
in an integer column) fails with the table, column, both types and the first offending value —
or, when the connection sets ``on_type_conflict: variant``, the values that do not fit land in a
text column ``<column>__v_text`` beside it. The committed table is never altered: the new table
is built beside it and commits with the stage, or not at all.

Example::

    plan = evolve(store_engine, base_table, delta_table, "orders", on_conflict="fail")
    plan.columns  # [ColumnPlan("id", BIGINT, base_expr, delta_expr), ...]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from tasks.errors import StoreWriteError

VARIANT_SUFFIX = "__v_text"
NUMERIC_RANK = [(sa.Boolean, None), (sa.SmallInteger, 1), (sa.BigInteger, 3), (sa.Integer, 2), (sa.Float, 5), (sa.Numeric, 4)]


class SchemaConflictError(StoreWriteError):
    """New rows bring a column type that the committed column cannot take."""


def type_class(sa_type: sa.types.TypeEngine) -> tuple[str, float]:
    """(family, rank): types of one family widen into the higher rank; families do not mix."""
    if isinstance(sa_type, sa.types.NullType):
        return "null", 0
    if isinstance(sa_type, sa.Boolean):
        return "bool", 0
    for cls, rank in NUMERIC_RANK:
        if rank is not None and isinstance(sa_type, cls):
            return "number", rank
    if isinstance(sa_type, sa.DateTime):
        return ("timestamptz", 0) if getattr(sa_type, "timezone", False) else ("temporal", 2)
    if isinstance(sa_type, sa.Date):
        return "temporal", 1
    if isinstance(sa_type, sa.String):
        length = getattr(sa_type, "length", None)
        return "text", math.inf if length is None or isinstance(sa_type, sa.Text) else length
    return f"other:{sa_type!r}", 0


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


def _try_cast(dialect: str, column: sa.ColumnElement, target: sa.types.TypeEngine) -> sa.ColumnElement | None:
    """``column`` cast to ``target``, NULL where it does not fit; None if the store cannot say."""
    if dialect == "duckdb":
        return sa.try_cast(column, target)
    if dialect == "postgresql" and type_class(target)[0] == "number":
        number = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
        return sa.case((sa.cast(column, sa.Text).op("~")(number), sa.cast(sa.cast(column, sa.Text), target)), else_=None)
    return None


def _first_offending(engine: sa.Engine, delta: sa.Table, name: str, target: sa.types.TypeEngine):
    column = delta.c[name]
    fits = _try_cast(engine.dialect.name, column, target)
    condition = column.is_not(None) if fits is None else sa.and_(column.is_not(None), fits.is_(None))
    with engine.connect() as conn:
        return conn.execute(sa.select(column).where(condition).limit(1)).scalar()


def evolve(engine: sa.Engine, base: sa.Table, delta: sa.Table, table: str, on_conflict: str = "fail") -> EvolutionPlan:
    """How the committed ``base`` and the new ``delta`` rows combine into one table."""
    plans: list[ColumnPlan] = []
    for column in base.columns:
        if column.name.endswith(VARIANT_SUFFIX) and column.name.removesuffix(VARIANT_SUFFIX) in delta.c:
            continue
        if column.name not in delta.c:
            plans.append(ColumnPlan(column.name, column, sa.cast(sa.null(), column.type)))
            continue
        new = delta.c[column.name]
        (old_family, old_rank), (new_family, new_rank) = type_class(column.type), type_class(new.type)
        if new_family == "null" or (old_family == new_family and new_rank <= old_rank):
            plans.append(ColumnPlan(column.name, column, sa.cast(new, column.type)))
        elif old_family == new_family or old_family == "null":
            plans.append(ColumnPlan(column.name, sa.cast(column, new.type), new))
        else:
            plans.extend(_conflict(engine, base, delta, table, column, new, on_conflict))
    for column in delta.columns:
        if column.name not in base.c:
            plans.append(ColumnPlan(column.name, sa.cast(sa.null(), column.type), column))
    return EvolutionPlan(plans)


def _conflict(engine, base, delta, table, old: sa.Column, new: sa.Column, on_conflict: str) -> list[ColumnPlan]:
    fits = _try_cast(engine.dialect.name, new, old.type) if on_conflict == "variant" else None
    if fits is None:
        value = _first_offending(engine, delta, new.name, old.type)
        hint = "cast it in the source query, or set on_type_conflict: variant on the connection"
        raise SchemaConflictError(
            table,
            f"new rows bring type {new.type} where the committed column is {old.type}; first offending value {value!r}; {hint}",
            column=old.name,
        )
    variant = f"{old.name}{VARIANT_SUFFIX}"
    base_variant = base.c[variant] if variant in base.c else sa.cast(sa.null(), sa.Text)
    delta_variant = sa.case((sa.and_(new.is_not(None), fits.is_(None)), sa.cast(new, sa.Text)), else_=None)
    return [ColumnPlan(old.name, old, fits), ColumnPlan(variant, base_variant, delta_variant)]
