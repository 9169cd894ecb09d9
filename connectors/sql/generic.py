"""Stream any SQLAlchemy-reachable database as Arrow batches through a server-side cursor.

The fallback for backends DuckDB has no scanner for (MSSQL, Oracle, ...). Column types are
inferred from the data: a column that is NULL in the first batch is decided by the next batches
that have a value (looking ahead at most ``LOOKAHEAD_BATCHES``, then it becomes text). Later
batches are cast to the decided types, so a column that changes type mid-stream fails with the
column's name instead of producing a mixed table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

LOOKAHEAD_BATCHES = 10


def stream_sqlalchemy(
    engine: sa.Engine,
    stmt: sa.Executable,
    *,
    batch_rows: int,
    on_error: Callable[[Exception], Exception],
) -> pa.RecordBatchReader:
    """Execute ``stmt`` with ``stream_results`` and yield ``batch_rows``-row Arrow batches."""
    conn = engine.connect()
    try:
        result = conn.execution_options(stream_results=True, max_row_buffer=batch_rows).execute(stmt)
        names = list(result.keys())
        partitions = result.partitions(batch_rows)
        buffered, schema = _decide_schema(names, partitions)
    except (sa.exc.SQLAlchemyError, pa.ArrowException) as exc:
        conn.close()
        raise on_error(exc) from exc

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for rows in buffered:
                yield _to_batch(names, rows, schema)
            for rows in partitions:
                yield _to_batch(names, rows, schema)
        except (sa.exc.SQLAlchemyError, pa.ArrowException) as exc:
            raise on_error(exc) from exc
        finally:
            conn.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _decide_schema(names: list[str], partitions: Iterator[Sequence[Any]]) -> tuple[list[Sequence[Any]], pa.Schema]:
    """Read ahead until every column has a non-null type; return the rows read and the schema."""
    buffered: list[Sequence[Any]] = []
    types: dict[str, pa.DataType] = {}
    for rows in partitions:
        buffered.append(rows)
        for name, column in zip(names, zip(*rows, strict=False), strict=False):
            if name not in types:
                inferred = pa.array(list(column)).type
                if not pa.types.is_null(inferred):
                    types[name] = inferred
        if len(types) == len(names) or len(buffered) >= LOOKAHEAD_BATCHES:
            break
    return buffered, pa.schema([(name, types.get(name, pa.string())) for name in names])


def _to_batch(names: list[str], rows: Sequence[Any], schema: pa.Schema) -> pa.RecordBatch:
    columns: list[Sequence[Any]] = list(zip(*rows, strict=False)) if rows else [[] for _ in names]
    arrays = []
    for field, col in zip(schema, columns, strict=False):
        try:
            arrays.append(pa.array(list(col), type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise pa.ArrowInvalid(f"column '{field.name}' changed type mid-stream: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
