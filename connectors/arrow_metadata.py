"""A stream's batches under the same columns with other metadata, lazily and closing the source.

Readers tag fields with what the source declared (a varchar's length, a wide numeric's type) so a
store writer downstream can honour it; Arrow keeps field metadata on the schema, so the batches
are re-wrapped one by one as they pass.

Example::

    tagged = with_schema(reader, pa.schema([f.with_metadata({b"k": b"v"}) for f in reader.schema]))
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def with_schema(reader: pa.RecordBatchReader, schema: pa.Schema) -> pa.RecordBatchReader:
    """``reader``'s batches under ``schema`` (same columns, other metadata); closes ``reader`` at the end."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
        finally:
            reader.close()

    return pa.RecordBatchReader.from_batches(schema, batches())
