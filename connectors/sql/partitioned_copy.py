"""A partitioned full sync from PostgreSQL into a PostgreSQL store: K binary COPYs at once.

An unpartitioned full sync PostgreSQL -> PostgreSQL store copies one binary COPY as is
(``connectors.sql.pg_copy``). Split, each key range (``connectors.sql.partitioned.key_ranges``) is its own
COPY over a connection of its own into the one table the store writer created; the table sits in
the stage's not-yet-committed schema, so a failed partition leaves nothing readers see.

Example (what ``SqlConnection.sync_read`` hands the store writer as its ``copy``)::

    PartitionedCopy(conn, "public.events", None, "id", partitions=4, store_uri=adbc_uri(store_engine()))
"""

from __future__ import annotations

import threading
from typing import Any

from stagehouse.connectors.sql.partitioned import key_ranges


class PartitionedCopy:
    """Quacks as ``PostgresCopy`` for the store writer: ``columns()`` and ``copy_into(conn, table)``."""

    def __init__(
        self, conn: Any, table: str | None, query: str | None, column: str, partitions: int, store_uri: str
    ) -> None:
        self.conn, self.table, self.query, self.column, self.partitions = conn, table, query, column, partitions
        self.store_uri = store_uri
        self.whole = conn.binary_copy(table, query=query)

    def columns(self):
        return self.whole.columns()

    def copy_into(self, target, into: str) -> int:
        """Commit the created table (``target``'s transaction), then copy each range over its own
        store connection, all at once; the rows copied, or the first partition's error."""
        import psycopg2

        target.commit()
        ranges = key_ranges(self.conn, self.table, self.query, self.column, None, self.partitions)
        copies = [self.conn.binary_copy(query=self.conn.delta_query(self.table, self.query, part)) for part in ranges]
        rows: list[int] = []
        errors: list[BaseException] = []

        def copy(part) -> None:
            try:
                connection = psycopg2.connect(self.store_uri)
                try:
                    rows.append(part.copy_into(connection, into))
                    connection.commit()
                finally:
                    connection.close()
            except BaseException as exc:  # noqa: BLE001 (raised in the task's thread below)
                errors.append(exc)

        threads = [
            threading.Thread(target=copy, args=(part,), name=f"partition-copy-{i}") for i, part in enumerate(copies)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return sum(rows)
