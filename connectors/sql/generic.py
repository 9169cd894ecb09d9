"""Stream any SQLAlchemy-reachable database as Arrow batches through a server-side cursor.

The fallback for backends DuckDB has no scanner for (MSSQL, Oracle, ...). Types are taken from
the first batch; later batches are cast to them, so a column that changes type mid-stream fails
with the column's name instead of producing a mixed table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import sqlalchemy as sa


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
    except sa.exc.SQLAlchemyError as exc:
        conn.close()
        raise on_error(exc) from exc
    names = list(result.keys())
    partitions = result.partitions(batch_rows)
    first_rows = next(partitions, [])
    first = _to_batch(names, first_rows, None)
    schema = pa.schema(
        [field.with_type(pa.string()) if pa.types.is_null(field.type) else field for field in first.schema]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            if first_rows:
                yield first.cast(schema)
            for rows in partitions:
                yield _to_batch(names, rows, schema)
        except (sa.exc.SQLAlchemyError, pa.ArrowException) as exc:
            raise on_error(exc) from exc
        finally:
            conn.close()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _to_batch(names: list[str], rows: list, schema: pa.Schema | None) -> pa.RecordBatch:
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    if schema is None:
        return pa.RecordBatch.from_arrays([pa.array(list(col)) for col in columns], names=names)
    arrays = []
    for field, col in zip(schema, columns):
        try:
            arrays.append(pa.array(list(col), type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise pa.ArrowInvalid(f"column '{field.name}' changed type mid-stream: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
